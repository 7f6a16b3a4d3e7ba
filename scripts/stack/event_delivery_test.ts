import assert from "node:assert/strict";
import { EventDelivery } from "./event_delivery.mjs";
import { createSequencer, encodeEventKey, s3Record } from "./s3_event_record.mjs";

/** What the receiver saw: one entry per request. */
interface Received {
  authorization: string | null;
  contentType: string | null;
  body: { Records: Array<{ eventName: string; s3: { object: { key: string } } }> };
}

/**
 * A tiny events endpoint on a free port: answers each request with the next status of
 * `statuses` (then 200), and records what it got.
 */
function receiver(statuses: number[] = [], options: { delayMs?: (key: string) => number } = {}) {
  const received: Received[] = [];
  const answers = [...statuses];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const body = await request.json();
    const key = body.Records?.[0]?.s3?.object?.key ?? "";
    const delay = options.delayMs?.(key) ?? 0;
    if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
    received.push({
      authorization: request.headers.get("authorization"),
      contentType: request.headers.get("content-type"),
      body,
    });
    const status = answers.shift() ?? 200;
    return Response.json(status === 200 ? { applied: 1 } : { error: { code: "x", message: "x" } }, {
      status,
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/functions/v1/s3-image-service/events`,
    received,
    close: () => server.shutdown(),
  };
}

const next = createSequencer();
const put = (key: string) =>
  s3Record({
    bucket: "product-images",
    key,
    eventName: "ObjectCreated:Put",
    size: 3,
    eTag: '"abc"',
    sequencer: next(),
  });
const fast = { firstRetryMs: 1, maxRetryMs: 5, log: () => {} };

Deno.test("EventDelivery posts one record per request with the bearer secret, as S3 and MinIO do", async () => {
  const endpoint = receiver();
  const delivery = new EventDelivery({ url: endpoint.url, secret: "s3cr3t", ...fast });
  try {
    delivery.enqueue(put("14000.jpg"));
    delivery.enqueue(put("14001.jpg"));
    await delivery.idle();
    assert.equal(endpoint.received.length, 2);
    for (const request of endpoint.received) {
      assert.equal(request.authorization, "Bearer s3cr3t");
      assert.equal(request.contentType, "application/json");
      assert.equal(request.body.Records.length, 1);
    }
    assert.deepEqual(
      endpoint.received.map((r) => r.body.Records[0].s3.object.key).sort(),
      ["14000.jpg", "14001.jpg"],
    );
    assert.equal(delivery.stats.delivered, 2);
  } finally {
    delivery.stop();
    await endpoint.close();
  }
});

Deno.test("EventDelivery retries a 5xx and a 429 until the endpoint accepts", async () => {
  const endpoint = receiver([503, 500, 429]);
  const delivery = new EventDelivery({ url: endpoint.url, secret: "s", ...fast });
  try {
    delivery.enqueue(put("14000.jpg"));
    await delivery.idle();
    assert.equal(endpoint.received.length, 4, "three failures, then the accepted try");
    assert.equal(delivery.stats.retried, 3);
    assert.equal(delivery.stats.delivered, 1);
  } finally {
    delivery.stop();
    await endpoint.close();
  }
});

Deno.test("EventDelivery does not retry a 4xx, and logs the refusal", async () => {
  const endpoint = receiver([400, 401]);
  const lines: string[] = [];
  const delivery = new EventDelivery({
    url: endpoint.url,
    secret: "s",
    ...fast,
    log: (line: string) => lines.push(line),
  });
  try {
    delivery.enqueue(put("a.jpg"));
    delivery.enqueue(put("b.jpg"));
    await delivery.idle();
    assert.equal(endpoint.received.length, 2, "each sent once");
    assert.equal(delivery.stats.refused, 2);
    assert.equal(delivery.stats.retried, 0);
    assert.equal(lines.length, 2);
    assert.match(lines.join("\n"), /refused with 400, not retried/);
  } finally {
    delivery.stop();
    await endpoint.close();
  }
});

Deno.test("EventDelivery retries when nothing listens, and delivers once the endpoint is up", async () => {
  // A port nothing listens on yet: the stack's emulator starts before the functions host.
  const probe = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const url = `http://127.0.0.1:${port}/events`;
  const delivery = new EventDelivery({ url, secret: "s", ...fast });
  let server: Deno.HttpServer | undefined;
  try {
    delivery.enqueue(put("14000.jpg"));
    while (delivery.stats.retried < 2) await new Promise((r) => setTimeout(r, 5));
    const keys: string[] = [];
    server = Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, async (request) => {
      keys.push((await request.json()).Records[0].s3.object.key);
      return Response.json({ applied: 1 });
    });
    await delivery.idle();
    assert.deepEqual(keys, ["14000.jpg"]);
    assert.equal(delivery.stats.delivered, 1);
  } finally {
    delivery.stop();
    await server?.shutdown();
  }
});

Deno.test("EventDelivery keeps one key's events in order while another key's go ahead", async () => {
  // The first try of a.jpg's create fails: its delete must not overtake it; b.jpg is not held up.
  const endpoint = receiver([503]);
  const delivery = new EventDelivery({ url: endpoint.url, secret: "s", ...fast, concurrency: 4 });
  try {
    delivery.enqueue(put("a.jpg"));
    delivery.enqueue(
      s3Record({
        bucket: "product-images",
        key: "a.jpg",
        eventName: "ObjectRemoved:Delete",
        sequencer: next(),
      }),
    );
    delivery.enqueue(put("b.jpg"));
    await delivery.idle();
    const sent = endpoint.received.map((r) =>
      `${r.body.Records[0].eventName} ${r.body.Records[0].s3.object.key}`
    );
    const forA = sent.filter((line) => line.endsWith(" a.jpg"));
    assert.deepEqual(forA, [
      "ObjectCreated:Put a.jpg",
      "ObjectCreated:Put a.jpg",
      "ObjectRemoved:Delete a.jpg",
    ]);
    assert.ok(
      sent.indexOf("ObjectCreated:Put b.jpg") < sent.lastIndexOf("ObjectCreated:Put a.jpg"),
    );
  } finally {
    delivery.stop();
    await endpoint.close();
  }
});

Deno.test("EventDelivery refuses new events past maxQueue and says so", async () => {
  const endpoint = receiver([], { delayMs: () => 50 });
  const lines: string[] = [];
  const delivery = new EventDelivery({
    url: endpoint.url,
    secret: "s",
    ...fast,
    maxQueue: 2,
    log: (line: string) => lines.push(line),
  });
  try {
    assert.equal(delivery.enqueue(put("a.jpg")), true);
    assert.equal(delivery.enqueue(put("b.jpg")), true);
    assert.equal(delivery.enqueue(put("c.jpg")), false);
    assert.equal(delivery.stats.dropped, 1);
    assert.match(lines[0], /dropped ObjectCreated:Put c\.jpg: 2 events queued/);
    await delivery.idle();
    assert.equal(endpoint.received.length, 2);
  } finally {
    delivery.stop();
    await endpoint.close();
  }
});

Deno.test("EventDelivery gives up after giveUpAfterMs and logs the event", async () => {
  const endpoint = receiver(Array(1000).fill(503));
  const lines: string[] = [];
  const delivery = new EventDelivery({
    url: endpoint.url,
    secret: "s",
    ...fast,
    giveUpAfterMs: 30,
    log: (line: string) => lines.push(line),
  });
  try {
    delivery.enqueue(put("14000.jpg"));
    await delivery.idle();
    assert.equal(delivery.stats.gaveUp, 1);
    assert.equal(delivery.stats.delivered, 0);
    assert.match(
      lines.join("\n"),
      /gave up on ObjectCreated:Put 14000\.jpg after \d+ tries: answered 503/,
    );
  } finally {
    delivery.stop();
    await endpoint.close();
  }
});

Deno.test("createSequencer() grows strictly within one millisecond, at a fixed width", () => {
  const sequencer = createSequencer(() => 1_765_000_000_000);
  const values = Array.from({ length: 5 }, () => sequencer());
  for (const value of values) assert.match(value, /^[0-9A-F]{18}$/);
  for (let i = 1; i < values.length; i++) assert.ok(values[i] > values[i - 1], values.join(" "));
});

Deno.test("createSequencer() keeps growing after a restart on a later clock", () => {
  const before = createSequencer(() => 1_000)();
  const after = createSequencer(() => 1_001)();
  assert.ok(after > before);
});

Deno.test("encodeEventKey() form-encodes as S3 records do, keeping '/'", () => {
  assert.equal(encodeEventKey("red flower.jpg"), "red+flower.jpg");
  assert.equal(encodeEventKey("a+b (1).jpg"), "a%2Bb+%281%29.jpg");
  assert.equal(encodeEventKey("dir/ünï.jpg"), "dir/%C3%BCn%C3%AF.jpg");
  for (const key of ["red flower.jpg", "a+b (1).jpg", "dir/ünï%20.jpg", "x?y#z&=.png"]) {
    assert.equal(decodeURIComponent(encodeEventKey(key).replaceAll("+", " ")), key);
  }
});

Deno.test("s3Record() carries size and eTag (unquoted) on creates, neither on deletes", () => {
  const created = s3Record({
    bucket: "b",
    key: "a b.jpg",
    eventName: "ObjectCreated:Copy",
    size: 7,
    eTag: '"d41d8"',
    sequencer: "000000000000000001",
  });
  assert.deepEqual(created.s3.object, {
    key: "a+b.jpg",
    size: 7,
    eTag: "d41d8",
    sequencer: "000000000000000001",
  });
  assert.equal(created.eventSource, "aws:s3");
  assert.equal(created.s3.bucket.name, "b");
  const removed = s3Record({
    bucket: "b",
    key: "a.jpg",
    eventName: "ObjectRemoved:Delete",
    sequencer: "000000000000000002",
  });
  assert.deepEqual(removed.s3.object, { key: "a.jpg", sequencer: "000000000000000002" });
});
