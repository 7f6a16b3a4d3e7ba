/**
 * Live sync end to end: objects written and removed straight in the bucket with
 * `@aws-sdk/client-s3` (what `aws s3 cp`, `aws s3 rm` and a supplier's sync job send) reach the
 * index with no other step. The stack's S3 emulator posts each change to the events endpoint as
 * a bucket notification would (scripts/stack/event_delivery.mjs), for keys under
 * {@linkcode LIVE_SYNC_PREFIX} only (scripts/test.ts); the index is read directly and through
 * `lookup_s3_cache`, as the storefront reads it.
 *
 * Waits poll with a generous deadline: they say whether a change arrives, not how fast (the
 * speed is `npm run bench -- events`).
 */
import assert from "node:assert/strict";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import type { IndexEntry, StatsAnswer } from "../../supabase/functions/_shared/contract.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import {
  databaseComesBack,
  databaseGoesAway,
  eventually,
  restoreFaultProxies,
} from "../support/faults.ts";
import { LIVE_SYNC_PREFIX } from "../support/live_sync.ts";
import { callFunction, stackInfo } from "../support/stack.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const key = (name: string) => `${LIVE_SYNC_PREFIX}${RUN}-${name}`;
/** Long enough for a loaded CI machine; a change that never arrives fails here. */
const DEADLINE_MS = 30_000;

let client: S3Client | undefined;
function s3(): S3Client {
  const info = stackInfo();
  client ??= new S3Client({
    endpoint: info.S3_ENDPOINT,
    region: info.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: info.AWS_ACCESS_KEY, secretAccessKey: info.AWS_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return client;
}
const bucket = () => stackInfo().S3_BUCKET;

/** A small JPEG-looking body, different per `seed`, so each version has its own ETag. */
function jpeg(seed: number): Uint8Array {
  const bytes = new Uint8Array(64 + seed);
  bytes.set([0xff, 0xd8, 0xff, 0xe0]);
  bytes[10] = seed;
  return bytes;
}

/** What `lookup_s3_cache` says about one key (null: not in the index). */
async function lookup(name: string): Promise<IndexEntry | null> {
  const rows = await testDb()<IndexEntry[]>`
    select * from public.lookup_s3_cache(${[name]}::text[])`;
  return rows[0] ?? null;
}

/** The index row's size and etag, or null. */
async function indexed(name: string): Promise<{ size: number; etag: string } | null> {
  const rows = await testDb()<{ size: number; etag: string }[]>`
    select size_bytes::int as size, etag from public.s3_image_cache where filename = ${name}`;
  return rows[0] ?? null;
}

/** The bucket's ETag for a key, without quotes. */
async function bucketEtag(name: string): Promise<string> {
  const head = await s3().send(new HeadObjectCommand({ Bucket: bucket(), Key: name }));
  return head.ETag!.replace(/"/g, "");
}

/** `GET /stats`'s live sync, as the admin UI reads it. */
async function liveSync(): Promise<StatsAnswer["live_sync"]> {
  const { status, body } = await callFunction("s3-image-service/stats", {
    token: stackInfo().ADMIN_TOKEN,
  });
  assert.equal(status, 200, JSON.stringify(body));
  return (body as unknown as StatsAnswer).live_sync;
}

const until = <T>(what: string, check: () => Promise<T | undefined | false>) =>
  eventually(what, check, DEADLINE_MS);

Deno.test({
  name: "a PutObject straight to the bucket shows up in the index and lookup_s3_cache",
  sanitizeResources: false,
  async fn() {
    const name = key("put.jpg");
    const body = jpeg(1);
    await s3().send(
      new PutObjectCommand({ Bucket: bucket(), Key: name, Body: body, ContentType: "image/jpeg" }),
    );
    const row = await until(`${name} is indexed`, () => lookup(name).then((r) => r ?? false));
    assert.equal(row.filename, name);
    assert.equal(Number(row.size_bytes), body.length, "the size comes from the event");
    assert.equal(row.etag?.replace(/"/g, ""), await bucketEtag(name));
    const stats = await liveSync();
    assert.equal(stats.enabled, true);
    assert.ok(stats.last_hour.applied >= 1, JSON.stringify(stats));
  },
});

Deno.test({
  name: "a copy inside the bucket indexes the destination with the copied object's etag",
  sanitizeResources: false,
  async fn() {
    const source = key("copy-source.jpg");
    const target = key("copy-target.jpg");
    await s3().send(new PutObjectCommand({ Bucket: bucket(), Key: source, Body: jpeg(2) }));
    await s3().send(
      new CopyObjectCommand({ Bucket: bucket(), Key: target, CopySource: `${bucket()}/${source}` }),
    );
    const row = await until(`${target} is indexed`, () => indexed(target).then((r) => r ?? false));
    assert.deepEqual(row, { size: jpeg(2).length, etag: row.etag });
    assert.equal(row.etag.replace(/"/g, ""), await bucketEtag(source));
  },
});

Deno.test({
  name: "DeleteObject and DeleteObjects (aws s3 rm, rm --recursive) remove index rows",
  sanitizeResources: false,
  async fn() {
    const single = key("delete-one.jpg");
    const many = [key("delete-a.jpg"), key("delete-b.jpg"), key("delete-c.jpg")];
    for (const [i, name] of [single, ...many].entries()) {
      await s3().send(new PutObjectCommand({ Bucket: bucket(), Key: name, Body: jpeg(10 + i) }));
    }
    for (const name of [single, ...many]) {
      await until(`${name} is indexed`, async () => (await indexed(name)) !== null);
    }

    await s3().send(new DeleteObjectCommand({ Bucket: bucket(), Key: single }));
    await until(`${single} leaves the index`, async () => (await lookup(single)) === null);
    const last = (await liveSync()).last_applied;
    assert.deepEqual([last?.key, last?.action], [single, "removed"]);

    const answer = await s3().send(
      new DeleteObjectsCommand({
        Bucket: bucket(),
        Delete: { Objects: many.map((Key) => ({ Key })) },
      }),
    );
    assert.equal(answer.Deleted?.length, many.length);
    for (const name of many) {
      await until(`${name} leaves the index`, async () => (await lookup(name)) === null);
    }
  },
});

Deno.test({
  name: "a delivery that meets a database outage (503) is retried and applied once",
  sanitizeResources: false,
  async fn() {
    const name = key("outage.jpg");
    const before = (await liveSync()).last_hour.applied;
    await databaseGoesAway();
    try {
      await s3().send(new PutObjectCommand({ Bucket: bucket(), Key: name, Body: jpeg(30) }));
      // The emulator logs the first retry of each event: the endpoint answered 503.
      await until(
        "the delivery meets the outage",
        () => emulatorLogMatches(new RegExp(`${name} answered 503, retrying`)),
      );
      assert.equal(await indexed(name), null, "nothing is applied while the database is away");
    } finally {
      await databaseComesBack();
    }
    const row = await until(`${name} is indexed`, () => indexed(name).then((r) => r ?? false));
    assert.equal(row.size, jpeg(30).length);
    await restoreFaultProxies();
    const after = (await liveSync()).last_hour.applied;
    assert.equal(after - before, 1, "one event, applied once");
  },
});

Deno.test.afterAll(async () => {
  client?.destroy();
  await closeTestDb();
});

/** Whether the stack's S3 emulator log (where its event delivery reports) has a matching line. */
async function emulatorLogMatches(pattern: RegExp): Promise<boolean> {
  const dir = Deno.env.get("STACK_STATE_DIR");
  if (!dir) throw new Error("STACK_STATE_DIR is not set: run through `npm run test:integration`");
  const text = await Deno.readTextFile(`${dir}/logs/s3-emulator.log`).catch(() => "");
  return text.split("\n").some((line) => pattern.test(line));
}
