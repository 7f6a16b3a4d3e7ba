/**
 * The signed direct-upload path end to end: presign through the function, PUT the bytes
 * straight to the bucket with plain `fetch`, confirm through the function.
 */
import assert from "node:assert/strict";
import { samplePng } from "../../scripts/lib/png.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { addS3Fault, heldByS3Proxy, releaseS3, restoreFaultProxies } from "../support/faults.ts";
import { testStorage } from "../support/s3.ts";
import { callFunction, stackInfo } from "../support/stack.ts";

const storage = testStorage();
const P = `direct-${crypto.randomUUID().slice(0, 8)}-`;
const JPEG = Deno.readFileSync(new URL("../testdata/product.jpg", import.meta.url));
const text = (s: string) => new TextEncoder().encode(s);

interface Ticket {
  uploadUrl: string;
  method: string;
  headers: Record<string, string>;
  key: string;
  stagingKey: string;
  expiresAt: string;
  exists: boolean;
}

const errorCode = (body: Record<string, unknown>) => (body.error as { code?: string })?.code;

function post(path: string, payload: unknown, token = stackInfo().MANAGER_TOKEN) {
  return callFunction(`upload-to-s3/${path}`, {
    method: "POST",
    token,
    body: JSON.stringify(payload),
    headers: { "content-type": "application/json" },
  });
}

async function presign(filename: string, contentType: string, size: number): Promise<Ticket> {
  const { status, body } = await post("direct", { filename, contentType, size });
  assert.equal(status, 200, JSON.stringify(body));
  return body as unknown as Ticket;
}

async function put(ticket: Ticket, bytes: Uint8Array): Promise<void> {
  const response = await fetch(ticket.uploadUrl, {
    method: ticket.method,
    headers: ticket.headers,
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  await response.body?.cancel();
  assert.equal(response.status, 200);
}

async function indexRow(filename: string) {
  const [row] = await testDb()`
    select size_bytes::int as size_bytes, etag, content_type, width, height, last_modified
    from public.s3_image_cache where filename = ${filename}`;
  return row;
}

Deno.test("direct upload: presign, PUT to the bucket, confirm; stored, indexed, staging gone", async () => {
  const ticket = await presign(`${P}Large.JPG`, "image/jpeg", JPEG.length);
  assert.equal(ticket.key, `${P}Large.jpg`);
  assert.equal(ticket.method, "PUT");
  assert.deepEqual(ticket.headers, { "content-type": "image/jpeg" });
  assert.match(ticket.stagingKey, /^_incoming\/[0-9a-f-]{36}\/[0-9a-f-]{36}\/\d+\//);
  assert.ok(new Date(ticket.expiresAt).getTime() > Date.now());
  assert.equal(ticket.exists, false);

  await put(ticket, JPEG);
  assert.equal(await storage.head(ticket.key), null, "nothing at the live key before confirm");
  assert.equal(await indexRow(ticket.key), undefined);

  const { status, body } = await post("direct/confirm", { stagingKey: ticket.stagingKey });
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.key, ticket.key);
  assert.equal(body.contentType, "image/jpeg");
  assert.equal(body.width, 64);
  assert.equal(body.height, 48);
  assert.equal(body.indexed, true);

  assert.deepEqual(await storage.get(ticket.key), JPEG);
  const head = await storage.head(ticket.key);
  assert.equal(head?.contentType, "image/jpeg");
  assert.equal(head?.metadata?.sha256, body.sha256);
  assert.equal(await storage.head(ticket.stagingKey), null, "the staging object is deleted");
  const row = await indexRow(ticket.key);
  assert.equal(row.size_bytes, JPEG.length);
  assert.equal(row.etag, head?.etag);
  assert.equal(row.width, 64);
  assert.equal(new Date(row.last_modified).getTime(), head?.lastModified.getTime());

  // The same bytes again through the direct path are idempotent; other bytes need replace.
  const again = await presign(`${P}Large.jpg`, "image/jpeg", JPEG.length);
  assert.equal(again.exists, true);
  await put(again, JPEG);
  const repeat = await post("direct/confirm", { stagingKey: again.stagingKey });
  assert.equal(repeat.status, 200, JSON.stringify(repeat.body));
  assert.equal(repeat.body.unchanged, true);
  assert.equal(await storage.head(again.stagingKey), null);
});

Deno.test("direct upload: replacing needs replace=true at confirm", async () => {
  const key = `${P}swap.png`;
  const first = samplePng(1);
  const second = samplePng(2);
  const a = await presign(key, "image/png", first.length);
  await put(a, first);
  assert.equal((await post("direct/confirm", { stagingKey: a.stagingKey })).status, 201);

  const b = await presign(key, "image/png", second.length);
  await put(b, second);
  const refused = await post("direct/confirm", { stagingKey: b.stagingKey });
  assert.equal(refused.status, 409);
  assert.equal(errorCode(refused.body), "already_exists");
  assert.deepEqual(await storage.get(key), first);
  assert.equal(await storage.head(b.stagingKey), null, "the refused upload is deleted");

  const c = await presign(key, "image/png", second.length);
  await put(c, second);
  const replaced = await post("direct/confirm", { stagingKey: c.stagingKey, replace: true });
  assert.equal(replaced.status, 201, JSON.stringify(replaced.body));
  assert.equal(replaced.body.replaced, true);
  assert.deepEqual(await storage.get(key), second);
  assert.equal((await indexRow(key)).etag, replaced.body.etag);
});

Deno.test("direct upload: a confirm of a bad body deletes it and writes nothing", async () => {
  const png = samplePng(3);
  const polyglot = new Uint8Array([...png, ...text("<html><script>alert(1)</script></html>")]);
  const html = text("<!doctype html><html><script>alert(1)</script></html>");
  const cases: Array<[string, string, string, Uint8Array, number, number, string]> = [
    [
      "HTML declared as PNG",
      `${P}html.png`,
      "image/png",
      html,
      html.length,
      415,
      "unsupported_media_type",
    ],
    [
      "PNG with HTML appended",
      `${P}poly.png`,
      "image/png",
      polyglot,
      polyglot.length,
      415,
      "polyglot_refused",
    ],
    [
      "PNG sent for a .jpg",
      `${P}mismatch.jpg`,
      "image/jpeg",
      png,
      png.length,
      415,
      "content_mismatch",
    ],
    ["truncated PNG", `${P}cut.png`, "image/png", png.subarray(0, 200), 200, 422, "corrupt_image"],
  ];
  for (const [label, name, type, bytes, declared, status, code] of cases) {
    const ticket = await presign(name, type, declared);
    await put(ticket, bytes);
    assert.ok(await storage.head(ticket.stagingKey), `${label}: staged`);
    const result = await post("direct/confirm", { stagingKey: ticket.stagingKey });
    assert.equal(result.status, status, `${label}: ${JSON.stringify(result.body)}`);
    assert.equal(errorCode(result.body), code, label);
    assert.equal(await storage.head(ticket.stagingKey), null, `${label}: staging deleted`);
    assert.equal(await storage.head(ticket.key), null, `${label}: nothing at the live key`);
    assert.equal(await indexRow(ticket.key), undefined, `${label}: nothing indexed`);
  }
});

Deno.test("direct upload: the bucket refuses a PUT of another size or type than was signed", async () => {
  const png = samplePng(3);
  const ticket = await presign(`${P}signed.png`, "image/png", png.length);
  const cases: Array<[string, Record<string, string>, Uint8Array]> = [
    ["another size", ticket.headers, new Uint8Array([...png, 0, 0, 0, 0, 0])],
    ["another type", { "content-type": "text/html" }, png],
  ];
  for (const [label, headers, bytes] of cases) {
    const response = await fetch(ticket.uploadUrl, {
      method: "PUT",
      headers,
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    await response.body?.cancel();
    assert.equal(response.status, 403, label);
  }
  assert.equal(await storage.head(ticket.stagingKey), null, "nothing was staged");
  const confirm = await post("direct/confirm", { stagingKey: ticket.stagingKey });
  assert.equal(confirm.status, 404, JSON.stringify(confirm.body));
});

Deno.test("direct upload: presign refuses bad names, types and sizes before any URL exists", async () => {
  const cases: Array<[string, unknown, number, string]> = [
    [
      "path in name",
      { filename: "../x.jpg", contentType: "image/jpeg", size: 10 },
      400,
      "invalid_filename",
    ],
    [
      "SVG",
      { filename: `${P}x.png`, contentType: "image/svg+xml", size: 10 },
      415,
      "unsupported_media_type",
    ],
    [
      "type vs name",
      { filename: `${P}x.jpg`, contentType: "image/png", size: 10 },
      415,
      "content_mismatch",
    ],
    [
      "too large",
      { filename: `${P}x.jpg`, contentType: "image/jpeg", size: 10 * 1024 * 1024 + 1 },
      413,
      "payload_too_large",
    ],
    ["zero size", { filename: `${P}x.jpg`, contentType: "image/jpeg", size: 0 }, 400, "empty_file"],
    ["missing fields", { filename: `${P}x.jpg` }, 400, "validation_failed"],
  ];
  for (const [label, payload, status, code] of cases) {
    const { status: got, body } = await post("direct", payload);
    assert.equal(got, status, `${label}: ${JSON.stringify(body)}`);
    assert.equal(errorCode(body), code, label);
  }
  const notJson = await callFunction("upload-to-s3/direct", {
    method: "POST",
    token: stackInfo().MANAGER_TOKEN,
    body: "{nope",
  });
  assert.equal(errorCode(notJson.body), "invalid_json");
});

Deno.test("direct upload: confirm only accepts staging keys it handed out", async () => {
  const live = await post("direct/confirm", { stagingKey: "14000.jpg" });
  assert.equal(live.status, 400);
  assert.equal(errorCode(live.body), "validation_failed");
  const owner = (await presign(`${P}owner.jpg`, "image/jpeg", 10)).stagingKey.split("/")[1];
  const missing = await post("direct/confirm", {
    stagingKey: `_incoming/${owner}/${crypto.randomUUID()}/10/${P}never.jpg`,
  });
  assert.equal(missing.status, 404);
  assert.equal(errorCode(missing.body), "not_found");
});

Deno.test("direct upload: another user's staging key is 403, nothing published, nothing deleted", async () => {
  const ticket = await presign(`${P}owned.jpg`, "image/jpeg", JPEG.length);
  await put(ticket, JPEG);
  const stolen = await post(
    "direct/confirm",
    { stagingKey: ticket.stagingKey },
    stackInfo().ADMIN_TOKEN,
  );
  assert.equal(stolen.status, 403, JSON.stringify(stolen.body));
  assert.equal(errorCode(stolen.body), "forbidden");
  assert.ok(await storage.head(ticket.stagingKey), "the owner's upload is still staged");
  assert.equal(await storage.head(ticket.key), null, "nothing was published");
  assert.equal(await indexRow(ticket.key), undefined, "nothing was indexed");
  const own = await post("direct/confirm", { stagingKey: ticket.stagingKey });
  assert.equal(own.status, 201, JSON.stringify(own.body));
});

Deno.test("direct upload: only managers, admins and service_role may presign", async () => {
  const payload = { filename: `${P}x.jpg`, contentType: "image/jpeg", size: 10 };
  const anon = await post("direct", payload, stackInfo().ANON_KEY);
  assert.equal(anon.status, 403);
  const admin = await post("direct", payload, stackInfo().ADMIN_TOKEN);
  assert.equal(admin.status, 200);
  const service = await post("direct", payload, stackInfo().SERVICE_ROLE_KEY);
  assert.equal(service.status, 200);
});

Deno.test("direct upload: a store that ignores the copy condition never gets bytes published that were not checked", async () => {
  // The proxy plays a store that ignores x-amz-copy-source-if-match (s3rver does; Supabase
  // Storage's S3 and R2 are unverified) and holds the copy while the signed URL is used again.
  const png = samplePng(11);
  const html = text("<!doctype html><html><script>alert(document.cookie)</script>".padEnd(
    png.length,
    " ",
  ));
  const ticket = await presign(`${P}raced.png`, "image/png", png.length);
  await put(ticket, png);
  try {
    await addS3Fault({
      operation: "copy",
      keyPrefix: ticket.key,
      hold: true,
      dropHeaders: ["x-amz-copy-source-if-match"],
      remaining: 1,
    });
    const confirming = post("direct/confirm", { stagingKey: ticket.stagingKey });
    await heldByS3Proxy(0);
    await put(ticket, html); // checked bytes replaced while the copy waits
    assert.equal(await releaseS3(), 1);
    const { status, body } = await confirming;
    assert.equal(status, 409, JSON.stringify(body));
    assert.equal(errorCode(body), "publish_mismatch");
    assert.equal(await storage.head(ticket.key), null, "the unchecked bytes are not published");
    assert.equal(await indexRow(ticket.key), undefined, "nothing indexed");
  } finally {
    await restoreFaultProxies();
  }
});

Deno.test.afterAll(async () => {
  const staged = await storage.listPage({ prefix: "_incoming/" });
  for (const object of staged.objects) {
    if (object.key.includes(P)) await storage.delete(object.key);
  }
  const live = await storage.listPage({ prefix: P });
  for (const object of live.objects) {
    await storage.delete(object.key);
    await testDb()`select public.remove_file_from_s3_cache(${object.key})`;
  }
  await closeTestDb();
});
