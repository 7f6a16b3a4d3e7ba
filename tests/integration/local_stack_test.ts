/**
 * The local stand-ins hold what a hosted project holds, against the running stack: the S3
 * emulator refuses anonymous requests and survives a key too long for its files (the listing
 * keeps working); the functions host does not hold bodies of callers without credentials (its
 * memory stays flat under 20 stalled uploads) while our functions still answer them 401.
 * The wall clock and the body limit are covered with a short clock in
 * `scripts/stack/functions_host_test.ts`.
 */
import assert from "node:assert/strict";
import { testStorage } from "../support/s3.ts";
import { stackInfo } from "../support/stack.ts";

const storage = testStorage();
const P = `stack-${crypto.randomUUID().slice(0, 8)}-`;

Deno.test("s3 emulator: anonymous requests are refused, signed ones served", async () => {
  const { S3_ENDPOINT, S3_BUCKET } = stackInfo();
  const key = `${P}anon.png`;
  await storage.put(key, new Uint8Array([1, 2, 3]), { contentType: "image/png" });
  const anonymous: Array<[string, string]> = [
    ["GET", `${S3_ENDPOINT}/${S3_BUCKET}/${key}`],
    ["PUT", `${S3_ENDPOINT}/${S3_BUCKET}/${P}anon-put.png`],
    ["DELETE", `${S3_ENDPOINT}/${S3_BUCKET}/${key}`],
    ["GET", `${S3_ENDPOINT}/${S3_BUCKET}?list-type=2`],
  ];
  for (const [method, url] of anonymous) {
    const response = await fetch(url, { method, body: method === "PUT" ? "<html>" : undefined });
    const text = await response.text();
    assert.equal(response.status, 403, `${method} ${url}: ${text}`);
    assert.match(text, /AccessDenied/);
  }
  assert.deepEqual(await storage.get(key), new Uint8Array([1, 2, 3]), "signed GET works");
  assert.equal(await storage.head(`${P}anon-put.png`), null, "the anonymous PUT stored nothing");
  const signed = await fetch(await storage.signedGetUrl(key, 60));
  assert.equal(signed.status, 200, "a presigned GET works");
  await signed.body?.cancel();
  await storage.delete(key);
});

Deno.test("s3 emulator: a key too long for its files is refused whole and the listing keeps working", async () => {
  for (const bytes of [234, 255]) {
    const key = `${P}${"k".repeat(bytes - P.length - 4)}.png`;
    assert.equal(new TextEncoder().encode(key).length, bytes);
    await assert.rejects(
      storage.put(key, new Uint8Array([1]), { contentType: "image/png" }),
      `a ${bytes}-byte key is refused`,
    );
    assert.equal(await storage.head(key), null, `nothing of the ${bytes}-byte key is left`);
    const page = await storage.listPage({ prefix: P });
    assert.deepEqual(page.objects, [], "the listing still answers");
    const all = await storage.listPage({ maxKeys: 1000 });
    assert.ok(Array.isArray(all.objects), "the whole listing still answers");
  }
  // The longest key it does store is stored, listed and read back whole.
  const longest = `${P}${"k".repeat(233 - P.length - 4)}.png`;
  await storage.put(longest, new Uint8Array([7]), { contentType: "image/png" });
  assert.deepEqual((await storage.listPage({ prefix: P })).objects.map((o) => o.key), [longest]);
  assert.deepEqual(await storage.get(longest), new Uint8Array([7]));
  await storage.delete(longest);
});

/** The resident memory of a process, in MiB (Linux). */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/**
 * A multipart upload without credentials that declares 16 MiB, sends 12 MiB and stalls; resolves
 * with the answer's status line, or "no answer" after 10 s.
 */
async function stalledUpload(url: URL) {
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  const head = [
    "POST /functions/v1/upload-to-s3 HTTP/1.1",
    `host: ${url.host}`,
    "content-type: multipart/form-data; boundary=x",
    `content-length: ${16 * 1024 * 1024}`,
    "",
    "",
  ].join("\r\n");
  await conn.write(new TextEncoder().encode(head));
  conn.write(STALLED_BODY).catch(() => {}); // blocks once nobody reads: that is the point
  const buffer = new Uint8Array(1024);
  const timer = new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000));
  const n = await Promise.race([conn.read(buffer).catch(() => null), timer]);
  const status = n ? new TextDecoder().decode(buffer.subarray(0, n)).split("\r\n")[0] : "no answer";
  return { status, conn };
}
const STALLED_BODY = new Uint8Array(12 * 1024 * 1024);

Deno.test({
  name:
    "functions host: 20 stalled uploads without credentials are answered 401 and its memory stays flat",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const info = stackInfo();
    const control = await fetch(`${new URL(info.FUNCTIONS_URL).origin}/_host/functions`, {
      headers: { apikey: info.SECRET_KEY },
    });
    const { host } = await control.json();
    assert.ok(host?.pid, "the host reports its pid");
    const before = await rssMiB(host.pid);
    const url = new URL(info.FUNCTIONS_URL);
    const uploads = await Promise.all(Array.from({ length: 20 }, () => stalledUpload(url)));
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const during = await rssMiB(host.pid);
      console.log(
        `host RSS: ${before.toFixed(0)} MiB before, ${
          during.toFixed(0)
        } MiB with 20 stalled bodies`,
      );
      assert.deepEqual(
        uploads.map((upload) => upload.status),
        Array(20).fill("HTTP/1.1 401 Unauthorized"),
        "the function answered each caller without credentials itself",
      );
      assert.ok(during - before < 64, `host RSS grew ${(during - before).toFixed(0)} MiB`);
    } finally {
      for (const { conn } of uploads) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    }
  },
});

Deno.test.afterAll(async () => {
  for (const object of (await storage.listPage({ prefix: P })).objects) {
    await storage.delete(object.key);
  }
});
