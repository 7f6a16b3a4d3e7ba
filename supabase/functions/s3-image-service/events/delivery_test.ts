import assert from "node:assert/strict";
import { AppError } from "../../_shared/errors.ts";
import { MAX_EVENTS_BODY_BYTES, readDelivery, readEventsBody } from "./delivery.ts";
import type { SnsMessage } from "./sns_message.ts";
import type { SnsVerifier } from "./sns_verify.ts";

/** An SNS verifier double: accepts (or refuses with `refusal`) and records what it was asked. */
function snsDouble(refusal?: AppError) {
  const calls: string[] = [];
  const sns: SnsVerifier = {
    verify(message: SnsMessage) {
      calls.push(`verify ${message.Type}`);
      return refusal ? Promise.reject(refusal) : Promise.resolve();
    },
    confirm(message) {
      calls.push(`confirm ${message.SubscribeURL}`);
      return Promise.resolve();
    },
  };
  return { sns, calls };
}

const record = {
  eventName: "ObjectCreated:Put",
  eventTime: "2026-12-07T09:00:00.000Z",
  s3: { bucket: { name: "b" }, object: { key: "1.jpg", size: 1, eTag: "e", sequencer: "01" } },
};
const snsBase = {
  MessageId: "m",
  TopicArn: "arn:aws:sns:us-east-1:1:t",
  Timestamp: "2026-12-07T09:00:00.000Z",
  SignatureVersion: "2",
  Signature: "c2ln",
  SigningCertURL: "https://sns.us-east-1.amazonaws.com/c.pem",
};
const isMalformed = (error: AppError) => error.status === 400 && error.code === "malformed_event";

Deno.test("readDelivery() reads S3 records and EventBridge events by their shape", async () => {
  const { sns, calls } = snsDouble();
  const records = await readDelivery({ Records: [record] }, { sns });
  assert.equal(records.events[0].key, "1.jpg");
  const bridge = await readDelivery({
    "detail-type": "Object Deleted",
    source: "aws.s3",
    time: "2026-12-07T09:00:00Z",
    detail: { bucket: { name: "b" }, object: { key: "2.jpg", sequencer: "02" } },
  }, { sns });
  assert.equal(bridge.events[0].action, "removed");
  assert.deepEqual(calls, []);
});

Deno.test("readDelivery() verifies an SNS notification, then reads the S3 records it carries", async () => {
  const { sns, calls } = snsDouble();
  const delivery = await readDelivery({
    ...snsBase,
    Type: "Notification",
    Message: JSON.stringify({ Records: [record] }),
  }, { sns });
  assert.deepEqual(calls, ["verify Notification"]);
  assert.equal(delivery.events.length, 1);
  const test = await readDelivery({
    ...snsBase,
    Type: "Notification",
    Message: JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent" }),
  }, { sns });
  assert.deepEqual(test, { events: [], ignored: 1 });
});

Deno.test("readDelivery() confirms an SNS subscription and acknowledges an unsubscribe", async () => {
  const { sns, calls } = snsDouble();
  const confirmation = { ...snsBase, Message: "m", Token: "t", SubscribeURL: "https://sns/x" };
  assert.deepEqual(
    await readDelivery({ ...confirmation, Type: "SubscriptionConfirmation" }, { sns }),
    { events: [], ignored: 0 },
  );
  await readDelivery({ ...confirmation, Type: "UnsubscribeConfirmation" }, { sns });
  assert.deepEqual(calls, [
    "verify SubscriptionConfirmation",
    "confirm https://sns/x",
    "verify UnsubscribeConfirmation",
  ]);
});

Deno.test("readDelivery() never confirms nor reads an SNS message that does not verify", async () => {
  const { sns, calls } = snsDouble(new AppError(403, "forbidden", "bad signature"));
  await assert.rejects(
    readDelivery({ ...snsBase, Type: "Notification", Message: "{}" }, { sns }),
    (error: AppError) => error.status === 403,
  );
  assert.deepEqual(calls, ["verify Notification"]);
});

Deno.test("readDelivery() refuses bodies no sender posts", async () => {
  const { sns } = snsDouble();
  for (const body of [[], "text", 1, null, {}, { Event: "s3:Other" }]) {
    await assert.rejects(readDelivery(body, { sns }), isMalformed, JSON.stringify(body));
  }
  await assert.rejects(
    readDelivery({ ...snsBase, Type: "Notification", Message: "not json" }, { sns }),
    isMalformed,
  );
});

Deno.test("readEventsBody() parses JSON, refuses other text as malformed and big bodies as 413", async () => {
  const post = (body: BodyInit) => new Request("https://x/events", { method: "POST", body });
  assert.deepEqual(await readEventsBody(post('{"a":1}')), { a: 1 });
  await assert.rejects(readEventsBody(post("{")), isMalformed);
  await assert.rejects(readEventsBody(post(new Uint8Array([0xff, 0xfe]))), isMalformed);
  await assert.rejects(
    readEventsBody(post("x".repeat(MAX_EVENTS_BODY_BYTES + 1))),
    (error: AppError) => error.status === 413,
  );
});
