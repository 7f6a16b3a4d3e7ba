import assert from "node:assert/strict";
import { readS3Records } from "../../../supabase/functions/s3-image-service/events/s3_records.ts";
import worker, {
  type QueueBatch,
  type QueueMessage,
  type R2Notification,
  retryDelaySeconds,
  toS3Record,
} from "./worker.ts";

const put = (key: string): R2Notification => ({
  account: "3f4b7e3dcab231cbfdaa90a6a28bd548",
  action: "PutObject",
  bucket: "product-images",
  object: { key, size: 65536, eTag: "c846ff7a18f28c2e262116d6e8719ef0" },
  eventTime: "2026-12-07T09:00:00.379Z",
});

Deno.test("toS3Record() turns R2 notifications into records the events endpoint reads", () => {
  const removed: R2Notification = {
    account: "a",
    action: "DeleteObject",
    bucket: "product-images",
    object: { key: "old one.jpg" },
    eventTime: "2026-12-07T09:00:01.000Z",
  };
  const copied: R2Notification = {
    ...put("copy (2).jpg"),
    action: "CopyObject",
    copySource: { bucket: "product-images", object: "14000.jpg" },
  };
  const { events, ignored } = readS3Records({
    Records: [put("14000.jpg"), copied, removed, { ...put("x.jpg"), action: "PutObjectTagging" }]
      .map(toS3Record),
  });
  assert.equal(ignored, 1, "an action the index does not follow is ignored, not refused");
  assert.deepEqual(events, [
    {
      bucket: "product-images",
      key: "14000.jpg",
      action: "created",
      sequencer: null,
      eventTime: "2026-12-07T09:00:00.379Z",
      size: 65536,
      etag: "c846ff7a18f28c2e262116d6e8719ef0",
    },
    {
      bucket: "product-images",
      key: "copy (2).jpg",
      action: "created",
      sequencer: null,
      eventTime: "2026-12-07T09:00:00.379Z",
      size: 65536,
      etag: "c846ff7a18f28c2e262116d6e8719ef0",
    },
    {
      bucket: "product-images",
      key: "old one.jpg",
      action: "removed",
      sequencer: null,
      eventTime: "2026-12-07T09:00:01.000Z",
      size: null,
      etag: null,
    },
  ]);
});

/** A fake batch that records what the Worker did with it. */
function batchOf(bodies: R2Notification[], attempts = 1) {
  const done: string[] = [];
  const messages: QueueMessage<R2Notification>[] = bodies.map((body, i) => ({
    id: String(i),
    body,
    attempts,
    ack: () => done.push(`ack ${body.object.key}`),
    retry: (options) => done.push(`retry ${body.object.key} ${options?.delaySeconds}`),
  }));
  const batch: QueueBatch<R2Notification> = {
    messages,
    ackAll: () => done.push("ackAll"),
    retryAll: (options) => done.push(`retryAll ${options?.delaySeconds}`),
  };
  return { batch, done };
}

/** Runs the Worker against a local endpoint answering with `answer(records)`. */
async function deliver(
  bodies: R2Notification[],
  answer: (records: Array<{ s3: { object: { key: string } } }>, auth: string | null) => number,
) {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const { Records } = await request.json();
    const status = answer(Records, request.headers.get("authorization"));
    return Response.json({}, { status });
  });
  const { batch, done } = batchOf(bodies, 3);
  try {
    await worker.queue(batch, {
      EVENTS_URL: `http://127.0.0.1:${server.addr.port}/functions/v1/s3-image-service/events`,
      EVENTS_SECRET: "s3cr3t",
    });
  } finally {
    await server.shutdown();
  }
  return done;
}

Deno.test("the R2 Worker posts a batch with the bearer secret and acks it on 200", async () => {
  const seen: string[] = [];
  const done = await deliver([put("a.jpg"), put("b.jpg")], (records, auth) => {
    assert.equal(auth, "Bearer s3cr3t");
    seen.push(...records.map((r) => r.s3.object.key));
    return 200;
  });
  assert.deepEqual(seen, ["a.jpg", "b.jpg"], "one request for the batch");
  assert.deepEqual(done, ["ackAll"]);
});

Deno.test("the R2 Worker retries the whole batch on a 5xx or 429, with a growing delay", async () => {
  assert.deepEqual(await deliver([put("a.jpg")], () => 503), [`retryAll ${retryDelaySeconds(3)}`]);
  assert.deepEqual(await deliver([put("a.jpg")], () => 429), ["retryAll 8"]);
  assert.ok(retryDelaySeconds(20) === 300 && retryDelaySeconds(1) === 2);
});

Deno.test("the R2 Worker sends a refused batch one by one and retries only the bad message", async () => {
  const done = await deliver(
    [put("a.jpg"), put("bad.jpg"), put("c.jpg")],
    (records) => records.some((r) => r.s3.object.key === "bad.jpg") ? 400 : 200,
  );
  assert.deepEqual(done, ["ack a.jpg", "retry bad.jpg 8", "ack c.jpg"]);
});
