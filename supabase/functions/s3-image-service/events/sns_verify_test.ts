import assert from "node:assert/strict";
import { AppError } from "../../_shared/errors.ts";
import type { SnsMessage } from "./sns_message.ts";
import {
  createSnsVerifier,
  isAllowedCertUrl,
  isAllowedSubscribeUrl,
  type SnsVerifierOptions,
} from "./sns_verify.ts";
import { snsNotification, snsSubscriptionConfirmation, TEST_CERT_PEM } from "./testdata/sns.ts";

const CERT_URL =
  "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem";

/** A fetch that serves the test certificate at CERT_URL and `routes`; records every URL. */
function fakeFetch(routes: Record<string, Response | Error> = {}) {
  const urls: string[] = [];
  const fetcher = ((input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    urls.push(url);
    if (url === CERT_URL) return Promise.resolve(new Response(TEST_CERT_PEM));
    const route = routes[url];
    if (route instanceof Error) return Promise.reject(route);
    return Promise.resolve(route ?? new Response("not found", { status: 404 }));
  }) as typeof fetch;
  return { fetcher, urls };
}

function verifier(options: SnsVerifierOptions = {}, routes: Record<string, Response | Error> = {}) {
  const { fetcher, urls } = fakeFetch(routes);
  return { sns: createSnsVerifier({ fetch: fetcher, ...options }), urls };
}

const forbidden = (error: AppError) => error.status === 403 && error.code === "forbidden";
const records = { Records: [] };

Deno.test("SnsVerifier.verify() accepts SignatureVersion 1 (SHA1) and 2 (SHA256) signatures", async () => {
  const { sns, urls } = verifier();
  await sns.verify(snsNotification(records, { certUrl: CERT_URL, version: "1" }));
  await sns.verify(snsNotification(records, { certUrl: CERT_URL, version: "2", subject: "s" }));
  assert.equal(urls.length, 1, "the certificate is fetched once and cached");
});

Deno.test("SnsVerifier.verify() refuses a message changed after signing, or signed by another key", async () => {
  const { sns } = verifier();
  const signed = snsNotification(records, { certUrl: CERT_URL });
  await assert.rejects(sns.verify({ ...signed, Message: '{"Records":[1]}' }), forbidden);
  await assert.rejects(sns.verify({ ...signed, Timestamp: new Date(0).toISOString() }), forbidden);
  await assert.rejects(sns.verify({ ...signed, Signature: "bm90IGEgc2lnbmF0dXJl" }), forbidden);
  const v1 = snsNotification(records, { certUrl: CERT_URL, version: "1" });
  await assert.rejects(sns.verify({ ...v1, SignatureVersion: "2" } as SnsMessage), forbidden);
});

Deno.test("SnsVerifier.verify() fetches certificates only from Amazon SNS over HTTPS", async () => {
  for (
    const url of [
      "http://sns.us-east-1.amazonaws.com/cert.pem",
      "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
      "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
      "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
      "https://user@sns.us-east-1.amazonaws.com/cert.pem",
      "https://sns.us-east-1.amazonaws.com/cert.txt",
      "not a url",
    ]
  ) {
    const { sns, urls } = verifier();
    await assert.rejects(sns.verify(snsNotification(records, { certUrl: url })), forbidden, url);
    assert.deepEqual(urls, [], `nothing fetched for ${url}`);
  }
  assert.ok(isAllowedCertUrl("https://sns.cn-north-1.amazonaws.com.cn/x.pem"));
});

Deno.test("SnsVerifier: EVENTS_SNS_CERT_URL_PREFIX adds a local certificate server", async () => {
  const local = "http://127.0.0.1:9999/certs/";
  const { fetcher } = fakeFetch({ [`${local}test.pem`]: new Response(TEST_CERT_PEM) });
  const sns = createSnsVerifier({ fetch: fetcher, certUrlPrefix: local });
  await sns.verify(snsNotification(records, { certUrl: `${local}test.pem` }));
  assert.ok(isAllowedSubscribeUrl("http://127.0.0.1:9999/confirm?x=1", local));
  assert.ok(!isAllowedSubscribeUrl("http://127.0.0.1:9998/confirm", local));
  assert.ok(!isAllowedCertUrl("http://127.0.0.1:9999/other/test.pem", local));
});

Deno.test("SnsVerifier.verify() refuses topics outside EVENTS_SNS_TOPIC_ARNS", async () => {
  const allowed = "arn:aws:sns:us-east-1:123456789012:product-images";
  const { sns, urls } = verifier({ topicArns: [allowed] });
  await sns.verify(snsNotification(records, { certUrl: CERT_URL, topicArn: allowed }));
  await assert.rejects(
    sns.verify(snsNotification(records, { certUrl: CERT_URL, topicArn: `${allowed}-other` })),
    (error: AppError) => forbidden(error) && /EVENTS_SNS_TOPIC_ARNS/.test(error.message),
  );
  assert.equal(urls.length, 1);
});

Deno.test("SnsVerifier.verify(): an unreachable certificate is a 503 (SNS retries), a bad one 403", async () => {
  const local = "http://127.0.0.1:9999/";
  const { fetcher } = fakeFetch({
    [`${local}down.pem`]: new TypeError("connection refused"),
    [`${local}garbage.pem`]: new Response("-----BEGIN CERTIFICATE-----\nnope\n"),
  });
  const sns = createSnsVerifier({ fetch: fetcher, certUrlPrefix: local });
  await assert.rejects(
    sns.verify(snsNotification(records, { certUrl: `${local}down.pem` })),
    (error: AppError) => error.status === 503 && error.code === "auth_unavailable",
  );
  await assert.rejects(
    sns.verify(snsNotification(records, { certUrl: `${local}missing.pem` })),
    (error: AppError) => error.status === 503,
  );
  await assert.rejects(
    sns.verify(snsNotification(records, { certUrl: `${local}garbage.pem` })),
    forbidden,
  );
});

Deno.test("SnsVerifier.verify() refuses a certificate outside its validity", async () => {
  const { sns } = verifier({ now: () => new Date("2200-01-01T00:00:00Z") });
  await assert.rejects(sns.verify(snsNotification(records, { certUrl: CERT_URL })), forbidden);
});

Deno.test("SnsVerifier.confirm() visits the SubscribeURL, and says when SNS refused", async () => {
  const subscribe =
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=t&Token=tok";
  const { sns, urls } = verifier({}, { [subscribe]: new Response("<ok/>") });
  const confirmation = snsSubscriptionConfirmation(subscribe, { certUrl: CERT_URL });
  await sns.verify(confirmation);
  await sns.confirm(confirmation as SnsMessage & { SubscribeURL: string });
  assert.ok(urls.includes(subscribe));

  const refused = verifier({}, { [subscribe]: new Response("no", { status: 403 }) }).sns;
  await assert.rejects(
    refused.confirm(confirmation as SnsMessage & { SubscribeURL: string }),
    (error: AppError) => error.status === 502 && error.code === "sns_confirmation_failed",
  );
  const elsewhere = snsSubscriptionConfirmation("https://evil.example/confirm", {
    certUrl: CERT_URL,
  });
  await assert.rejects(
    sns.confirm(elsewhere as SnsMessage & { SubscribeURL: string }),
    forbidden,
  );
});
