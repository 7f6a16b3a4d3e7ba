/**
 * Live sync over HTTP: bucket events posted to `POST /s3-image-service/events` the way real
 * senders post them (S3 notification records as S3 and MinIO's webhook send them, EventBridge
 * events, SNS deliveries signed with a test certificate), and what the index (real Postgres,
 * read directly) holds afterwards. Events are taken at their word (no S3 call), so most tests
 * post events for keys of their own prefix without touching the bucket; the rebuild tests put
 * real objects, since a rebuild lists the bucket.
 *
 * Every test name starts with "live sync:" (`TEST_FILTER="live sync:"` runs just these).
 */
import assert from "node:assert/strict";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";

const RUN = crypto.randomUUID().slice(0, 6);
/** Keys of this file: `ev<run>-…`. */
const P = `ev${RUN}-`;

/** An S3 notification record, as S3 and MinIO write it (the key URL-encoded, `+` for space). */
function s3Record(
  action: "created" | "removed",
  key: string,
  options: { sequencer?: string; time?: string; size?: number; etag?: string; bucket?: string } =
    {},
): Record<string, unknown> {
  const encoded = encodeURIComponent(key).replaceAll("%20", "+");
  return {
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: "us-east-1",
    eventTime: options.time ?? new Date().toISOString(),
    eventName: action === "created" ? "ObjectCreated:Put" : "ObjectRemoved:Delete",
    userIdentity: { principalId: "EXAMPLE" },
    requestParameters: { sourceIPAddress: "127.0.0.1" },
    responseElements: { "x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE" },
    s3: {
      s3SchemaVersion: "1.0",
      configurationId: "live-sync",
      bucket: {
        name: options.bucket ?? stackInfo().S3_BUCKET,
        ownerIdentity: { principalId: "EXAMPLE" },
        arn: `arn:aws:s3:::${options.bucket ?? stackInfo().S3_BUCKET}`,
      },
      object: {
        key: encoded,
        ...(action === "created"
          ? { size: options.size ?? 1234, eTag: options.etag ?? "0123456789abcdef0123456789abcdef" }
          : {}),
        ...(options.sequencer ? { sequencer: options.sequencer } : {}),
      },
    },
  };
}

/** An EventBridge S3 event (`Object Created` / `Object Deleted`), as an API destination posts it. */
function eventBridgeEvent(
  action: "created" | "removed",
  key: string,
  options: { sequencer: string; time: string; size?: number; etag?: string },
): Record<string, unknown> {
  const bucket = stackInfo().S3_BUCKET;
  return {
    version: "0",
    id: crypto.randomUUID(),
    "detail-type": action === "created" ? "Object Created" : "Object Deleted",
    source: "aws.s3",
    account: "123456789012",
    time: options.time,
    region: "us-east-1",
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: "0",
      bucket: { name: bucket },
      object: {
        key,
        ...(action === "created"
          ? { size: options.size ?? 99, etag: options.etag ?? "b1946ac92492d2347c6235b4d2611184" }
          : {}),
        sequencer: options.sequencer,
      },
      "request-id": "N4N7GDK58NMKJ12R",
      requester: "123456789012",
      reason: action === "created" ? "PutObject" : "DeleteObject",
      ...(action === "removed" ? { "deletion-type": "Permanently Deleted" } : {}),
    },
  };
}

/** Posts `body` to the events endpoint with `authorization` (default: the events secret). */
async function postEvents(
  body: unknown,
  authorization: string | null = `Bearer ${stackInfo().EVENTS_SECRET}`,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers = new Headers({ "content-type": "application/json" });
  if (authorization !== null) headers.set("authorization", authorization);
  const response = await fetch(stackInfo().EVENTS_URL, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

/** The index row of `filename`, read directly from Postgres. */
async function indexRow(filename: string) {
  const [row] = await testDb()`
    select filename, size_bytes::int as size, etag, content_type, last_modified, width, height
    from public.s3_image_cache where filename = ${filename}`;
  return row as
    | {
      filename: string;
      size: number | null;
      etag: string | null;
      content_type: string | null;
      last_modified: Date | null;
      width: number | null;
      height: number | null;
    }
    | undefined;
}

/** The live-sync counters, read directly. */
async function liveSyncStats(): Promise<{
  last_applied: { key: string; action: string; at: string } | null;
  last_hour: { applied: number; ignored: number; refused: number; malformed: number };
}> {
  const [{ stats }] = await testDb()`select public.s3_cache_live_sync_stats() as stats`;
  return stats;
}

Deno.test({
  name: "live sync: S3 notification records create and remove index rows, with their metadata",
  sanitizeResources: false,
  async fn() {
    const name = `${P}red flower+1.jpg`;
    const created = await postEvents({
      Records: [s3Record("created", name, {
        sequencer: "0055AED6DCD90281E5",
        time: "2026-12-07T09:00:00.250Z",
        size: 52311,
        etag: "d41d8cd98f00b204e9800998ecf8427e",
      })],
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.deepEqual(created.body, { applied: 1, ignored: 0, refused: 0 });
    const row = await indexRow(name);
    assert.ok(row, "the decoded key is indexed (+ is a space, %2B a plus)");
    assert.equal(row.size, 52311);
    assert.equal(
      row.etag,
      '"d41d8cd98f00b204e9800998ecf8427e"',
      "stored quoted, as listings give it",
    );
    assert.equal(row.content_type, "image/jpeg");
    assert.equal(row.last_modified?.toISOString(), "2026-12-07T09:00:00.250Z");

    const removed = await postEvents({
      Records: [s3Record("removed", name, {
        sequencer: "0055AED6DCD90281F0",
        time: "2026-12-07T09:00:05.000Z",
      })],
    });
    assert.deepEqual(removed.body, { applied: 1, ignored: 0, refused: 0 });
    assert.equal(await indexRow(name), undefined);
    const stats = await liveSyncStats();
    assert.deepEqual(stats.last_applied && [stats.last_applied.key, stats.last_applied.action], [
      name,
      "removed",
    ]);
  },
});

Deno.test({
  name: "live sync: an EventBridge Object Created / Object Deleted event is applied",
  sanitizeResources: false,
  async fn() {
    const name = `${P}eventbridge.png`;
    const created = await postEvents(
      eventBridgeEvent("created", name, {
        sequencer: "00617F08299329D189",
        time: "2026-12-07T10:00:00Z",
        size: 5,
      }),
    );
    assert.deepEqual(created.body, { applied: 1, ignored: 0, refused: 0 });
    const row = await indexRow(name);
    assert.equal(row?.size, 5);
    assert.equal(row?.content_type, "image/png");
    const deleted = await postEvents(
      eventBridgeEvent("removed", name, {
        sequencer: "00617F0829932A0000",
        time: "2026-12-07T10:00:01Z",
      }),
    );
    assert.deepEqual(deleted.body, { applied: 1, ignored: 0, refused: 0 });
    assert.equal(await indexRow(name), undefined);
  },
});

Deno.test({
  name: "live sync: a missing or wrong secret, or a user token, is 401 and changes nothing",
  sanitizeResources: false,
  async fn() {
    const name = `${P}unauthorized.jpg`;
    const body = { Records: [s3Record("created", name, { sequencer: "01" })] };
    const info = stackInfo();
    for (
      const authorization of [
        null,
        `Bearer ${info.EVENTS_SECRET}x`,
        `Bearer ${info.ADMIN_TOKEN}`,
        `Bearer ${info.SECRET_KEY}`,
        `Basic ${btoa(`events:${info.EVENTS_SECRET.slice(1)}`)}`,
      ]
    ) {
      const answer = await postEvents(body, authorization);
      assert.equal(answer.status, 401, String(authorization));
      assert.equal((answer.body.error as { code: string }).code, "invalid_events_secret");
    }
    assert.equal(await indexRow(name), undefined);
    // What SNS sends: the secret as the Basic password of the subscription URL.
    const basic = await postEvents(body, `Basic ${btoa(`events:${info.EVENTS_SECRET}`)}`);
    assert.deepEqual(basic.body, { applied: 1, ignored: 0, refused: 0 });
  },
});

Deno.test({
  name: "live sync: a malformed body is 400 malformed_event, changes nothing and is counted",
  sanitizeResources: false,
  async fn() {
    const name = `${P}malformed.jpg`;
    const before = (await liveSyncStats()).last_hour.malformed;
    const good = s3Record("created", name, { sequencer: "01" });
    const bad = [
      "not json",
      "[]",
      { Records: "nope" },
      { Records: [good, { ...good, eventTime: "yesterday" }] },
      { Records: [good, { eventName: "ObjectCreated:Put" }] },
      { Records: [{ ...good, s3: { ...good.s3 as object, object: { key: "%E0%A4%A.jpg" } } }] },
    ];
    for (const body of bad) {
      const answer = await postEvents(body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal((answer.body.error as { code: string }).code, "malformed_event");
    }
    assert.equal(await indexRow(name), undefined, "nothing of a malformed batch is applied");
    assert.ok((await liveSyncStats()).last_hour.malformed >= before + bad.length);
  },
});

Deno.test({
  name: "live sync: the same event twice, and an older event after a newer one, change nothing",
  sanitizeResources: false,
  async fn() {
    const name = `${P}order.jpg`;
    const newer = s3Record("created", name, {
      sequencer: "0055AED6DCD90281E6",
      time: "2026-12-07T09:00:02.000Z",
      size: 200,
    });
    assert.deepEqual((await postEvents({ Records: [newer] })).body, {
      applied: 1,
      ignored: 0,
      refused: 0,
    });
    assert.deepEqual((await postEvents({ Records: [newer] })).body, {
      applied: 0,
      ignored: 1,
      refused: 0,
    });
    const older = s3Record("created", name, {
      sequencer: "0055AED6DCD90281E5",
      time: "2026-12-07T09:00:01.000Z",
      size: 100,
    });
    assert.deepEqual((await postEvents({ Records: [older] })).body, {
      applied: 0,
      ignored: 1,
      refused: 0,
    });
    assert.equal((await indexRow(name))?.size, 200);
    // Sequencers of different lengths compare right-padded with zeros (AWS's rule): "0055AED6DCD90281E6" < "0055AED6DCD90281E61".
    const longer = s3Record("created", name, {
      sequencer: "0055AED6DCD90281E61",
      time: "2026-12-07T09:00:02.000Z",
      size: 300,
    });
    assert.equal((await postEvents({ Records: [longer] })).body.applied, 1);
    assert.equal((await indexRow(name))?.size, 300);
  },
});

Deno.test({
  name: "live sync: a delete followed by a late create of the older object does not resurrect it",
  sanitizeResources: false,
  async fn() {
    const name = `${P}late.jpg`;
    const put = s3Record("created", name, { sequencer: "0A00", time: "2026-12-07T09:00:00Z" });
    const del = s3Record("removed", name, { sequencer: "0B00", time: "2026-12-07T09:00:03Z" });
    assert.equal((await postEvents({ Records: [put] })).body.applied, 1);
    assert.equal((await postEvents({ Records: [del] })).body.applied, 1);
    const late = await postEvents({ Records: [put] });
    assert.deepEqual(late.body, { applied: 0, ignored: 1, refused: 0 });
    assert.equal(await indexRow(name), undefined);
    // Delivered the other way round, the delete still wins.
    const other = `${P}late-2.jpg`;
    const del2 = s3Record("removed", other, { sequencer: "0B00", time: "2026-12-07T09:00:03Z" });
    const put2 = s3Record("created", other, { sequencer: "0A00", time: "2026-12-07T09:00:00Z" });
    assert.deepEqual((await postEvents({ Records: [del2] })).body, {
      applied: 0,
      ignored: 1,
      refused: 0,
    }, "nothing to remove yet, but the removal is remembered");
    assert.deepEqual((await postEvents({ Records: [put2] })).body, {
      applied: 0,
      ignored: 1,
      refused: 0,
    });
    assert.equal(await indexRow(other), undefined);
  },
});

Deno.test({
  name: "live sync: refused names, other buckets, staging keys and other event kinds",
  sanitizeResources: false,
  async fn() {
    const answer = await postEvents({
      Records: [
        s3Record("created", `${P}folder/a.jpg`, { sequencer: "01" }),
        s3Record("created", `${P}notes.txt`, { sequencer: "01" }),
        s3Record("created", `${P}other-bucket.jpg`, { sequencer: "01", bucket: "someone-else" }),
        s3Record("created", `_incoming/${P}/staged.jpg`, { sequencer: "01" }),
        { ...s3Record("created", `${P}tagged.jpg`), eventName: "ObjectTagging:Put" },
        s3Record("created", `${P}kept.webp`, { sequencer: "01" }),
      ],
    });
    assert.deepEqual(answer.body, { applied: 1, ignored: 3, refused: 2 });
    for (const name of [`${P}folder/a.jpg`, `${P}notes.txt`, `${P}other-bucket.jpg`]) {
      assert.equal(await indexRow(name), undefined, name);
    }
    assert.ok(await indexRow(`${P}kept.webp`));
    // S3's test event, sent when a notification configuration is saved.
    const test = await postEvents({
      Service: "Amazon S3",
      Event: "s3:TestEvent",
      Time: new Date().toISOString(),
      Bucket: stackInfo().S3_BUCKET,
    });
    assert.deepEqual(test.body, { applied: 0, ignored: 1, refused: 0 });
  },
});

Deno.test({
  name: "live sync: clean-up",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await testDb()`delete from public.s3_image_cache where filename like ${P + "%"}`;
    await closeTestDb();
  },
});
