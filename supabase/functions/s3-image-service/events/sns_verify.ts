/**
 * Verifies SNS deliveries as AWS documents it (docs.aws.amazon.com/sns/latest/dg/
 * sns-verify-signature-of-message.html): the signing certificate is fetched over HTTPS and only
 * from Amazon SNS itself (`https://sns.<region>.amazonaws.com[.cn]/….pem`), the signature over
 * the documented string is checked with its public key (SHA1withRSA for SignatureVersion 1,
 * SHA256withRSA for 2), and a topic allowlist, when configured, refuses every other topic.
 * Certificates are cached per URL (SNS signs with a handful), so a delivery costs one fetch per
 * isolate at most.
 *
 * A local stack has no Amazon SNS: `EVENTS_SNS_CERT_URL_PREFIX` adds one more place certificates
 * (and subscription confirmations) may come from. It is meant for local stacks and tests only
 * (docs/security.md).
 *
 * @module
 */
import { createVerify, type KeyObject, X509Certificate } from "node:crypto";
import { Buffer } from "node:buffer";
import { ERRORS } from "../../_shared/errors.ts";
import { type SnsMessage, stringToSign } from "./sns_message.ts";

/** What {@linkcode createSnsVerifier} needs. */
export interface SnsVerifierOptions {
  /** A local stack's certificate server (`EVENTS_SNS_CERT_URL_PREFIX`); never set on a project. */
  certUrlPrefix?: string;
  /** Topics whose messages are accepted (`EVENTS_SNS_TOPIC_ARNS`); every topic when absent. */
  topicArns?: readonly string[];
  /** For tests; default `fetch`. */
  fetch?: typeof fetch;
  /** Default: now. */
  now?: () => Date;
}

/** Verifies SNS deliveries and confirms subscriptions. */
export interface SnsVerifier {
  /**
   * Throws unless `message` comes from an allowed topic and its signature verifies: 403
   * `forbidden` (topic, certificate URL, signature), 503 `auth_unavailable` (the certificate
   * could not be fetched: SNS retries).
   */
  verify(message: SnsMessage): Promise<void>;
  /** Visits a verified confirmation's SubscribeURL; throws a 502 when SNS did not accept it. */
  confirm(message: SnsMessage & { SubscribeURL: string }): Promise<void>;
}

const AWS_SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;
const MAX_CERT_BYTES = 16 * 1024;
const MAX_CACHED_CERTS = 16;

/** Whether a certificate URL names Amazon SNS (or the local prefix, when configured). */
export function isAllowedCertUrl(url: string, certUrlPrefix?: string): boolean {
  if (certUrlPrefix && url.startsWith(certUrlPrefix)) return true;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return parsed.protocol === "https:" && AWS_SNS_HOST.test(parsed.hostname) &&
    parsed.port === "" && parsed.username === "" && parsed.password === "" &&
    parsed.pathname.endsWith(".pem");
}

/** Whether a SubscribeURL may be visited: Amazon SNS over HTTPS, or the local prefix's origin. */
export function isAllowedSubscribeUrl(url: string, certUrlPrefix?: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (certUrlPrefix && parsed.origin === new URL(certUrlPrefix).origin) return true;
  return parsed.protocol === "https:" && AWS_SNS_HOST.test(parsed.hostname) &&
    parsed.port === "" && parsed.username === "" && parsed.password === "";
}

/** An SNS verifier over `options`. */
export function createSnsVerifier(options: SnsVerifierOptions = {}): SnsVerifier {
  const get = options.fetch ?? fetch;
  const now = options.now ?? (() => new Date());
  const certs = new Map<string, KeyObject>();

  async function publicKeyAt(url: string): Promise<KeyObject> {
    const cached = certs.get(url);
    if (cached) return cached;
    let pem: string;
    try {
      const response = await get(url, { redirect: "error", signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      pem = await response.text();
    } catch (error) {
      throw ERRORS.AuthUnavailable(
        `The SNS signing certificate could not be fetched (${
          error instanceof Error ? error.message : "network error"
        }); SNS will retry`,
      );
    }
    let certificate: X509Certificate;
    try {
      if (pem.length > MAX_CERT_BYTES) throw new Error("too large");
      certificate = new X509Certificate(pem);
    } catch {
      throw ERRORS.Forbidden("The SNS signing certificate is not a valid certificate");
    }
    const at = now().getTime();
    if (at < Date.parse(certificate.validFrom) || at > Date.parse(certificate.validTo)) {
      throw ERRORS.Forbidden("The SNS signing certificate is not valid at this time");
    }
    if (certs.size >= MAX_CACHED_CERTS) certs.delete(certs.keys().next().value!);
    certs.set(url, certificate.publicKey);
    return certificate.publicKey;
  }

  return {
    async verify(message) {
      if (options.topicArns?.length && !options.topicArns.includes(message.TopicArn)) {
        throw ERRORS.Forbidden(
          `SNS topic "${message.TopicArn}" is not one this function accepts (EVENTS_SNS_TOPIC_ARNS)`,
        );
      }
      if (!isAllowedCertUrl(message.SigningCertURL, options.certUrlPrefix)) {
        throw ERRORS.Forbidden(
          `The SNS signing certificate URL "${message.SigningCertURL}" is not an Amazon SNS one`,
        );
      }
      const key = await publicKeyAt(message.SigningCertURL);
      const verifier = createVerify(message.SignatureVersion === "1" ? "RSA-SHA1" : "RSA-SHA256");
      verifier.update(stringToSign(message), "utf8");
      let valid = false;
      try {
        valid = verifier.verify(key, Buffer.from(message.Signature, "base64"));
      } catch {
        valid = false;
      }
      if (!valid) throw ERRORS.Forbidden("The SNS message signature does not verify");
    },

    async confirm(message) {
      if (!isAllowedSubscribeUrl(message.SubscribeURL, options.certUrlPrefix)) {
        throw ERRORS.Forbidden(
          `The SNS SubscribeURL "${message.SubscribeURL}" is not an Amazon SNS one`,
        );
      }
      let status: number;
      try {
        const response = await get(message.SubscribeURL, {
          redirect: "error",
          signal: AbortSignal.timeout(5000),
        });
        await response.body?.cancel();
        status = response.status;
      } catch {
        status = 0;
      }
      if (status < 200 || status >= 300) {
        throw ERRORS.SnsConfirmationFailed(
          `Amazon SNS did not accept the subscription confirmation (${
            status ? `HTTP ${status}` : "unreachable"
          }); confirm it from the SNS console or wait for SNS to send it again`,
        );
      }
    },
  };
}
