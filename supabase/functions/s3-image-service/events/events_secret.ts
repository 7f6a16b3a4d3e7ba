/**
 * The events endpoint's own credential, `EVENTS_SECRET`, as senders can present it:
 * `Authorization: Bearer <secret>` (an EventBridge connection's API-key or bearer setting,
 * MinIO's webhook `auth_token`, the local stack), or as the password of HTTP Basic auth, which is
 * all SNS can send (from a subscription URL `https://<user>:<secret>@host/…`). A user token or
 * API key is never it. Compared in constant time: both sides are hashed to equal-length digests
 * first, so neither the content nor the length of the secret leaks through timing.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

/** The secret the request presents, or undefined when it presents none in a form we read. */
export function presentedSecret(request: Request): string | undefined {
  const header = request.headers.get("authorization")?.trim();
  if (!header) return undefined;
  const [scheme, value = ""] = header.split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) return value || undefined;
  if (/^basic$/i.test(scheme)) {
    let decoded: string;
    try {
      decoded = Buffer.from(value, "base64").toString("utf8");
    } catch {
      return undefined;
    }
    const colon = decoded.indexOf(":");
    return colon === -1 ? undefined : decoded.slice(colon + 1) || undefined;
  }
  return undefined;
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Whether `presented` is `secret`, in constant time. */
export function secretMatches(presented: string | undefined, secret: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(secret));
}
