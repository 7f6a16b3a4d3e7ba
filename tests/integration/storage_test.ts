import assert from "node:assert/strict";
import { samplePng } from "../../scripts/lib/png.ts";
import { SourceChangedError } from "../../supabase/functions/_shared/platform/storage.ts";
import { testStorage, withFaultyStorage } from "../support/s3.ts";
import { stackInfo } from "../support/stack.ts";

const storage = testStorage();
const PREFIX = `storage-test-${crypto.randomUUID().slice(0, 8)}-`;

Deno.test("storage: put, head, get, ranged get and delete round-trip byte for byte", async () => {
  const key = `${PREFIX}a.png`;
  const bytes = samplePng(1);
  const { etag } = await storage.put(key, bytes, {
    contentType: "image/png",
    cacheControl: "public, max-age=60",
    metadata: { sha256: "abc" },
  });
  const head = await storage.head(key);
  assert.ok(head);
  assert.equal(head.size, bytes.length);
  assert.equal(head.etag, etag);
  assert.equal(head.contentType, "image/png");
  assert.equal(head.metadata?.sha256, "abc");
  assert.deepEqual(await storage.get(key), bytes);
  assert.deepEqual(await storage.getRange(key, 0, 7), bytes.subarray(0, 8));
  await storage.delete(key);
  assert.equal(await storage.head(key), null);
});

Deno.test("storage: listPage pages through more than one page in key order", async () => {
  const keys = Array.from({ length: 5 }, (_, i) => `${PREFIX}list-${i}.png`);
  await Promise.all(
    keys.map((key) => storage.put(key, samplePng(2), { contentType: "image/png" })),
  );
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await storage.listPage({ prefix: `${PREFIX}list-`, token, maxKeys: 2 });
    seen.push(...page.objects.map((o) => o.key));
    token = page.nextToken;
    pages++;
  } while (token);
  assert.deepEqual(seen, keys);
  assert.equal(pages, 3);
  await Promise.all(keys.map((key) => storage.delete(key)));
});

Deno.test("storage: a listing survives two 503 SlowDown answers and a reset connection", async () => {
  const key = `${PREFIX}retry.png`;
  await storage.put(key, samplePng(3), { contentType: "image/png" });
  try {
    await withFaultyStorage(async (faulty, proxy) => {
      proxy.addFault({ operation: "list", status: 503, code: "SlowDown", remaining: 2 });
      proxy.addFault({ operation: "list", reset: true, remaining: 1 });
      const page = await faulty.listPage({ prefix: PREFIX });
      assert.deepEqual(page.objects.map((o) => o.key), [key]);
      assert.deepEqual(proxy.faults().map((rule) => rule.hits), [2, 1], "every fault was met");
    });
  } finally {
    await storage.delete(key);
  }
});

Deno.test("storage: a 403 is not retried and surfaces as a configuration problem", async () => {
  await withFaultyStorage(async (faulty, proxy) => {
    proxy.addFault({ operation: "head", status: 403, code: "AccessDenied", remaining: 2 });
    await assert.rejects(
      faulty.head(`${PREFIX}missing.png`),
      (error: Error & { code?: string }) => error.code === "misconfigured",
    );
    // One of the two faults is left: the SDK did not retry the 403.
    const [fault] = proxy.faults();
    assert.deepEqual({ hits: fault.hits, remaining: fault.remaining }, { hits: 1, remaining: 1 });
  });
});

Deno.test("storage: a presigned GET URL serves the object to a plain HTTP client", async () => {
  const key = `${PREFIX}signed.png`;
  const bytes = samplePng(4);
  await storage.put(key, bytes, { contentType: "image/png" });
  const response = await fetch(await storage.signedGetUrl(key, 60));
  assert.equal(response.status, 200);
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
  await storage.delete(key);
});

Deno.test("storage: a copy with sourceIfMatch publishes nothing once the source changed", async () => {
  const source = `${PREFIX}staged.png`;
  const target = `${PREFIX}live.png`;
  const checked = samplePng(3);
  await storage.put(source, checked, { contentType: "image/png" });
  const { bytes, etag } = await storage.getWithEtag(source);
  assert.deepEqual(bytes, checked);
  // Someone reuses the presigned PUT: other bytes arrive after the check.
  await storage.put(source, samplePng(4), { contentType: "image/png" });
  await assert.rejects(
    storage.copy(source, target, { contentType: "image/png", sourceIfMatch: etag }),
    SourceChangedError,
  );
  assert.equal(await storage.head(target), null, "nothing was published");
  const fresh = await storage.getWithEtag(source);
  await storage.copy(source, target, { contentType: "image/png", sourceIfMatch: fresh.etag });
  assert.equal((await storage.head(target))?.etag, fresh.etag);
  await Promise.all([storage.delete(source), storage.delete(target)]);
});

Deno.test("storage: the emulator answers 400 to a malformed path and stays up", async () => {
  const endpoint = stackInfo().S3_ENDPOINT;
  const bad = await fetch(`${endpoint}/${stackInfo().S3_BUCKET}/%E0%A4%A.jpg`);
  await bad.body?.cancel();
  assert.equal(bad.status, 400);
  const page = await storage.listPage({ prefix: PREFIX, maxKeys: 1 });
  assert.ok(Array.isArray(page.objects), "the emulator still answers");
});
