import assert from "node:assert/strict";
import { AppError } from "../../_shared/errors.ts";
import { actionOf, decodeRecordKey, readS3Records } from "./s3_records.ts";

/** A record as S3 writes it (AWS's documented example, our bucket and key). */
function record(overrides: Record<string, unknown> = {}, object: Record<string, unknown> = {}) {
  return {
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: "us-east-1",
    eventTime: "2026-12-07T09:00:00.123Z",
    eventName: "ObjectCreated:Put",
    s3: {
      s3SchemaVersion: "1.0",
      bucket: { name: "product-images", arn: "arn:aws:s3:::product-images" },
      object: {
        key: "14000.jpg",
        size: 1024,
        eTag: "0123456789abcdef0123456789abcdef",
        sequencer: "0A1B2C3D4E5F678901",
        ...object,
      },
    },
    ...overrides,
  };
}

const isMalformed = (error: AppError) => error.status === 400 && error.code === "malformed_event";

Deno.test("readS3Records() reads a created record with its metadata", () => {
  assert.deepEqual(readS3Records({ Records: [record()] }), {
    events: [{
      bucket: "product-images",
      key: "14000.jpg",
      action: "created",
      sequencer: "0A1B2C3D4E5F678901",
      eventTime: "2026-12-07T09:00:00.123Z",
      size: 1024,
      etag: "0123456789abcdef0123456789abcdef",
    }],
    ignored: 0,
  });
});

Deno.test("readS3Records() decodes keys as S3 encodes them: + is a space, %2B a plus", () => {
  const { events } = readS3Records({
    Records: [record({}, { key: "red+flower%2B1+%C3%A9t%C3%A9.jpg" })],
  });
  assert.equal(events[0].key, "red flower+1 été.jpg");
  assert.equal(decodeRecordKey("a%2Fb.jpg"), "a/b.jpg");
  assert.throws(() => decodeRecordKey("%E0%A4%A.jpg"), isMalformed);
});

Deno.test("readS3Records() reads removals (also MinIO's s3: prefix) without size or etag", () => {
  const { events } = readS3Records({
    Records: [
      record({ eventName: "ObjectRemoved:Delete" }, { size: undefined, eTag: undefined }),
      record({ eventName: "s3:ObjectRemoved:DeleteMarkerCreated" }),
      record({ eventName: "s3:ObjectCreated:CompleteMultipartUpload" }),
    ],
  });
  assert.deepEqual(events.map((event) => [event.action, event.size, event.etag]), [
    ["removed", null, null],
    ["removed", null, null],
    ["created", 1024, "0123456789abcdef0123456789abcdef"],
  ]);
});

Deno.test("readS3Records() counts kinds the index does not follow as ignored", () => {
  const result = readS3Records({
    Records: [
      record({ eventName: "ObjectTagging:Put" }),
      { eventName: "ObjectRestore:Completed" },
      record(),
    ],
  });
  assert.equal(result.ignored, 2);
  assert.equal(result.events.length, 1);
  assert.equal(actionOf("LifecycleTransition"), undefined);
});

Deno.test("readS3Records() refuses what no sender writes, naming the field", () => {
  const bad: unknown[] = [
    {},
    { Records: "x" },
    { Records: [{}] },
    { Records: [record({ eventTime: "yesterday" })] },
    { Records: [record({}, { sequencer: "not-hex" })] },
    { Records: [record({}, { size: -1 })] },
    { Records: [record({}, { key: "" })] },
    { Records: Array.from({ length: 1001 }, () => record()) },
  ];
  for (const body of bad) assert.throws(() => readS3Records(body), isMalformed);
  assert.throws(
    () => readS3Records({ Records: [record(), record({ eventTime: "later" })] }),
    (error: AppError) => /Records\.1: eventTime/.test(error.message),
  );
});

Deno.test("readS3Records() keeps a record without sequencer (s3rver's copies have no ETag)", () => {
  const { events } = readS3Records({
    Records: [
      record({ eventName: "ObjectCreated:Copy" }, { sequencer: undefined, eTag: undefined }),
    ],
  });
  assert.equal(events[0].sequencer, null);
  assert.equal(events[0].etag, null);
});
