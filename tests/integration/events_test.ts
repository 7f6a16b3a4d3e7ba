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
import {
  snsNotification,
  snsSubscriptionConfirmation,
  TEST_CERT_PEM,
} from "../../supabase/functions/s3-image-service/events/testdata/sns.ts";
import { listBucket } from "../support/bucket.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import {
  addS3Fault,
  databaseGoesAway,
  eventually,
  heldByS3Proxy,
  releaseS3,
  restoreFaultProxies,
} from "../support/faults.ts";
import { withOwnFunction } from "../support/own_function.ts";
import { stackInfo } from "../support/stack.ts";
import { deleteObjects, type Job, putObjects, service, waitForJob } from "./service_support.ts";

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

/**
 * Posts `body` to the events endpoint (`url`: the stack's, or a function of its own) with
 * `authorization` (default: the events secret as a bearer token).
 */
async function postEvents(
  body: unknown,
  authorization: string | null = `Bearer ${stackInfo().EVENTS_SECRET}`,
  url = stackInfo().EVENTS_URL,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers = new Headers({ "content-type": "application/json" });
  if (authorization !== null) headers.set("authorization", authorization);
  const response = await fetch(url, {
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
      "d41d8cd98f00b204e9800998ecf8427e",
      "stored as the other doors store it",
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

/**
 * A stand-in for Amazon SNS's side of a subscription on 127.0.0.1: the signing certificate at
 * `/certs/test.pem` and the SubscribeURL at `/confirm`, which records its visits.
 */
function fakeSnsServer() {
  const confirmations: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/certs/test.pem") return new Response(TEST_CERT_PEM);
    if (url.pathname === "/confirm") {
      confirmations.push(url.search);
      return new Response("<ConfirmSubscriptionResponse/>");
    }
    return new Response("not found", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { server, base, certUrl: `${base}/certs/test.pem`, confirmations };
}

Deno.test({
  name:
    "live sync: SNS deliveries: the subscription is confirmed, signed records applied, a forged or tampered message refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const sns = fakeSnsServer();
    const secret = stackInfo().EVENTS_SECRET;
    // SNS sends the subscription URL's user:password as HTTP Basic auth.
    const basic = `Basic ${btoa(`sns:${secret}`)}`;
    try {
      // A function of its own: the stack's has no certificate server to trust.
      await withOwnFunction("s3-image-service", {
        EVENTS_SECRET: secret,
        EVENTS_SNS_CERT_URL_PREFIX: `${sns.base}/certs/`,
      }, async (base) => {
        const url = `${base}/events`;
        const confirmation = snsSubscriptionConfirmation(`${sns.base}/confirm?Token=t1`, {
          certUrl: sns.certUrl,
        });
        const confirmed = await postEvents(confirmation, basic, url);
        assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
        assert.deepEqual(sns.confirmations, ["?Token=t1"], "the SubscribeURL was visited");

        const name = `${P}sns photo.jpg`;
        const records = {
          Records: [s3Record("created", name, {
            sequencer: "0055AED6DCD90281E5",
            time: "2026-12-07T09:00:00.000Z",
            size: 777,
          })],
        };
        const forged = snsNotification(records, { certUrl: sns.certUrl });
        const tampered = {
          ...forged,
          Message: JSON.stringify({
            Records: [s3Record("created", `${P}evil.jpg`, { sequencer: "01" })],
          }),
        };
        const refused = await postEvents(tampered, basic, url);
        assert.equal(refused.status, 403, JSON.stringify(refused.body));
        assert.equal(await indexRow(`${P}evil.jpg`), undefined);
        const foreign = snsNotification(records, {
          certUrl: "https://certs.example.com/SimpleNotificationService.pem",
        });
        assert.equal((await postEvents(foreign, basic, url)).status, 403);
        assert.equal(
          (await postEvents(forged, null, url)).status,
          401,
          "the secret is still needed",
        );
        assert.equal(await indexRow(name), undefined);

        for (const version of ["1", "2"] as const) {
          const signed = snsNotification(records, { certUrl: sns.certUrl, version });
          const applied = await postEvents(signed, basic, url);
          assert.equal(applied.status, 200, JSON.stringify(applied.body));
          assert.equal(
            applied.body.applied,
            version === "1" ? 1 : 0,
            `SignatureVersion ${version}`,
          );
        }
        assert.equal((await indexRow(name))?.size, 777);
      });
    } finally {
      await sns.server.shutdown();
    }
  },
});

Deno.test({
  name: "live sync: a database outage is a 503 the sender retries; the redelivery is applied once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const name = `${P}outage.jpg`;
    const delivery = {
      Records: [s3Record("created", name, { sequencer: "0C", time: "2026-12-07T09:00:00Z" })],
    };
    try {
      await databaseGoesAway();
      const down = await postEvents(delivery);
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.equal((down.body.error as { code: string }).code, "database_unavailable");
    } finally {
      await restoreFaultProxies();
    }
    assert.equal(await indexRow(name), undefined, "nothing was applied");
    const retried = await postEvents(delivery);
    assert.deepEqual(retried.body, { applied: 1, ignored: 0, refused: 0 });
    const again = await postEvents(delivery);
    assert.deepEqual(
      again.body,
      { applied: 0, ignored: 1, refused: 0 },
      "a second retry is a repeat",
    );
    const [{ rows }] = await testDb()`
      select count(*)::int as rows from public.s3_image_cache where filename = ${name}`;
    assert.equal(rows, 1);
  },
});

/** Bucket facts of `key` (size, ETag without quotes), as an event would carry them. */
async function objectFacts(key: string): Promise<{ size: number; etag: string }> {
  const [object] = (await listBucket(key)).filter((listed) => listed.key === key);
  assert.ok(object, `${key} is in the bucket`);
  return { size: object.size, etag: object.etag.replace(/^"|"$/g, "") };
}

Deno.test({
  name:
    "live sync: events during a rebuild (keys its listing has and has not reached) are kept by its finish",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Sorted first in the bucket ("00…"), so the first listing page is made of these keys.
    const R = `00${P}rb-`;
    const keys = Array.from({ length: 1_200 }, (_, i) => `${R}${String(i).padStart(4, "0")}.jpg`);
    await putObjects(keys);
    // The index in step with the bucket first (forced: rows earlier tests left behind may be
    // more than half of a small index).
    const synced = await service("/rebuild", { body: { force: true } });
    assert.equal(synced.status, 202, JSON.stringify(synced.body));
    assert.equal((await waitForJob((synced.body.job as Job).id)).status, "succeeded");
    try {
      // Page 1 is listed and staged, page 2 is held at the S3 proxy: the job is provably in the
      // middle of its listing while the events land.
      await addS3Fault({ operation: "list", hold: true, after: 1, remaining: 1 });
      // Forced too: the mass-removal guard is not what this test is about.
      const started = await service("/rebuild", {
        body: { force: true },
        token: stackInfo().SERVICE_ROLE_KEY,
      });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const jobId = (started.body.job as Job).id;
      await heldByS3Proxy(0);
      const listed = new Set(
        await eventually("page 1 is staged", async () => {
          const rows = await testDb()`
            select filename from public.s3_cache_rebuild_listing
            where job_id = ${jobId} and starts_with(filename, ${R})`;
          return rows.length ? rows.map((row) => row.filename as string) : undefined;
        }),
      );
      const reached = keys.filter((key) => listed.has(key));
      const unreached = keys.filter((key) => !listed.has(key));
      assert.ok(reached.length >= 2 && unreached.length >= 2, `${reached.length} reached`);

      // What happens in the bucket meanwhile, and the events announcing it.
      const [deletedReached, replacedReached] = reached;
      const [deletedUnreached, replacedUnreached] = unreached;
      const addedInReachedRange = `${deletedReached.slice(0, -4)}a.jpg`;
      const addedInUnreachedRange = `${R}zz.jpg`;
      await deleteObjects([deletedReached, deletedUnreached]);
      await putObjects([replacedReached, replacedUnreached], 1);
      await putObjects([addedInReachedRange, addedInUnreachedRange]);
      const now = new Date().toISOString();
      const sequencer = Date.now().toString(16).toUpperCase().padStart(16, "0");
      const created = async (key: string) =>
        s3Record("created", key, { sequencer, time: now, ...await objectFacts(key) });
      const answer = await postEvents({
        Records: [
          s3Record("removed", deletedReached, { sequencer, time: now }),
          s3Record("removed", deletedUnreached, { sequencer, time: now }),
          await created(replacedReached),
          await created(replacedUnreached),
          await created(addedInReachedRange),
          await created(addedInUnreachedRange),
        ],
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.applied, 6, JSON.stringify(answer.body));
      const during = await service(`/rebuild/${jobId}`);
      assert.equal((during.body.job as Job).status, "running", "the events landed during the job");

      await releaseS3();
      const job = await waitForJob(jobId);
      assert.equal(job.status, "succeeded", JSON.stringify(job));
      assert.equal(
        await indexRow(deletedReached),
        undefined,
        "a listed key deleted meanwhile stays out",
      );
      assert.equal(await indexRow(deletedUnreached), undefined);
      for (
        const key of [
          replacedReached,
          replacedUnreached,
          addedInReachedRange,
          addedInUnreachedRange,
        ]
      ) {
        assert.deepEqual(
          await indexRow(key).then((row) => row && { size: row.size, etag: row.etag }),
          await objectFacts(key),
          `${key} has the metadata of the object now in the bucket`,
        );
      }
      const indexed = await testDb()`
        select filename from public.s3_image_cache where starts_with(filename, ${R})`;
      const inBucket = (await listBucket(R)).map((object) => object.key);
      assert.deepEqual(
        indexed.map((row) => row.filename as string).sort(),
        inBucket.sort(),
        "the index holds exactly the bucket's keys",
      );
    } finally {
      await restoreFaultProxies();
      await deleteObjects((await listBucket(R)).map((object) => object.key));
      await testDb()`delete from public.s3_image_cache where starts_with(filename, ${R})`;
    }
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
