/**
 * `upload-to-s3` over HTTP through the functions host, against the real bucket (emulator) and
 * the real index (Postgres): what a store manager's upload stores, and that every refusal
 * leaves both untouched.
 */
import assert from "node:assert/strict";
import { samplePng } from "../../scripts/lib/png.ts";
import { seedSampleImages } from "../../scripts/seed.ts";
import { projectToken, userClaims } from "../support/tokens.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { testStorage } from "../support/s3.ts";
import { addS3Fault, clearS3ProxyFaults, heldByS3Proxy, releaseS3 } from "../support/faults.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import { concat, fixture, text } from "../support/bytes.ts";

const storage = testStorage();
const P = `up-${crypto.randomUUID().slice(0, 8)}-`;
const MAX_UPLOAD_BYTES = 10 * 1024 * 1024; // the stack runs with the default

const JPEG = fixture("product.jpg");
const WEBP = fixture("product.webp");
const PNG = samplePng(11, 120, 90);

interface UploadOptions {
  filename?: string;
  replace?: boolean;
  token?: string | null;
  method?: string;
}

/** A multipart upload as the admin UI sends it; `token: null` sends none. */
function upload(bytes: Uint8Array | null, fileName: string, options: UploadOptions = {}) {
  const form = new FormData();
  if (bytes) form.set("file", new File([bytes as Uint8Array<ArrayBuffer>], fileName));
  if (options.filename !== undefined) form.set("filename", options.filename);
  if (options.replace) form.set("replace", "true");
  return callFunction("upload-to-s3", {
    method: options.method ?? "POST",
    token: options.token === null ? undefined : options.token ?? stackInfo().MANAGER_TOKEN,
    body: form,
  });
}

async function indexRow(filename: string) {
  const [row] = await testDb()`
    select filename, size_bytes::int as size_bytes, etag, content_type, last_modified, width, height
    from public.s3_image_cache where filename = ${filename}`;
  return row;
}

/** Every key in the bucket and every row of the index, to prove a refusal wrote nothing. */
async function snapshot() {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await storage.listPage({ token });
    keys.push(...page.objects.map((o) => o.key));
    token = page.nextToken;
  } while (token);
  const rows = await testDb()`select filename, etag from public.s3_image_cache order by filename`;
  return { keys, rows: rows.map((r) => `${r.filename} ${r.etag}`) };
}

const errorCode = (body: Record<string, unknown>) => (body.error as { code?: string })?.code;

for (
  const [label, bytes, name, contentType, width, height] of [
    ["JPEG", JPEG, "jpeg-a.jpg", "image/jpeg", 64, 48],
    ["PNG", PNG, "png-a.png", "image/png", 120, 90],
    ["WebP", WEBP, "webp-a.webp", "image/webp", 64, 48],
  ] as const
) {
  Deno.test(`upload: a real ${label} is stored, indexed with its metadata and read back byte for byte`, async () => {
    const key = `${P}${name}`;
    const { status, body } = await upload(bytes, key);
    assert.equal(status, 201, JSON.stringify(body));
    assert.equal(body.key, key);
    assert.equal(body.size, bytes.length);
    assert.equal(body.contentType, contentType);
    assert.equal(body.width, width);
    assert.equal(body.height, height);
    assert.equal(body.replaced, false);
    assert.equal(body.indexed, true);

    assert.deepEqual(await storage.get(key), bytes);
    const head = await storage.head(key);
    assert.ok(head);
    assert.equal(head.contentType, contentType);
    assert.equal(head.etag, body.etag);
    assert.equal(head.metadata?.sha256, body.sha256);
    const served = await fetch(await storage.signedGetUrl(key, 60));
    await served.body?.cancel();
    assert.match(served.headers.get("cache-control") ?? "", /max-age=\d+/);

    const row = await indexRow(key);
    assert.ok(row, "the index has the image");
    assert.equal(row.size_bytes, bytes.length);
    assert.equal(row.etag, head.etag);
    assert.equal(row.content_type, contentType);
    assert.equal(row.width, width);
    assert.equal(row.height, height);
    // The bucket's answer time, not a HeadObject: within the one-second precision of Last-Modified.
    const drift = Math.abs(new Date(row.last_modified).getTime() - head.lastModified.getTime());
    assert.ok(drift <= 1000, `last_modified is ${drift} ms from the object's Last-Modified`);
  });
}

Deno.test("upload: the name defaults to the file's, NFC-normalised with a lower-case extension", async () => {
  const { status, body } = await upload(JPEG, `${P}Cafe\u0301.JPG`);
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.key, `${P}Caf\u00e9.jpg`);
  assert.ok(await storage.head(`${P}Caf\u00e9.jpg`));
  assert.ok(await indexRow(`${P}Caf\u00e9.jpg`));
});

Deno.test("upload: the filename field wins over the file's own name", async () => {
  const { status, body } = await upload(PNG, "whatever.png", { filename: `${P}named.png` });
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.key, `${P}named.png`);
  assert.equal(await storage.head(`${P}whatever.png`), null);
});

Deno.test("upload: replacing needs replace=true; without it 409 and nothing changes", async () => {
  const key = `${P}replace.png`;
  const first = await upload(samplePng(1), key);
  assert.equal(first.status, 201);
  const second = samplePng(2);

  const refused = await upload(second, key);
  assert.equal(refused.status, 409);
  assert.equal(errorCode(refused.body), "already_exists");
  assert.match((refused.body.error as { message: string }).message, /replace=true/);
  assert.deepEqual(await storage.get(key), samplePng(1));
  assert.equal((await indexRow(key)).etag, first.body.etag);

  const replaced = await upload(second, key, { replace: true });
  assert.equal(replaced.status, 201, JSON.stringify(replaced.body));
  assert.equal(replaced.body.replaced, true);
  assert.deepEqual(await storage.get(key), second);
  const row = await indexRow(key);
  assert.equal(row.etag, replaced.body.etag);
  assert.notEqual(row.etag, first.body.etag);
});

Deno.test("upload: two managers uploading different images under one new name at once: one wins, one gets 409", async () => {
  const key = `${P}race.png`;
  const images = [samplePng(21), samplePng(22), samplePng(23), samplePng(24)];
  // The proxy holds all four writes and lets them go at once, so they reach the bucket together
  // however the machine schedules the four requests.
  await addS3Fault({ operation: "put", keyPrefix: key, hold: true, remaining: images.length });
  let answers: Awaited<ReturnType<typeof upload>>[];
  try {
    const pending = Promise.all(images.map((bytes) => upload(bytes, key)));
    await heldByS3Proxy(0, 30_000, images.length);
    await releaseS3();
    answers = await pending;
  } finally {
    await clearS3ProxyFaults();
  }
  const statuses = answers.map((a) => a.status).sort();
  assert.deepEqual(statuses, [201, 409, 409, 409], JSON.stringify(answers.map((a) => a.body)));
  const winner = images[answers.findIndex((a) => a.status === 201)];
  assert.deepEqual(await storage.get(key), winner, "the bucket holds the winner's bytes");
  assert.equal((await indexRow(key)).etag, answers.find((a) => a.status === 201)!.body.etag);
});

Deno.test("upload: the same upload twice is idempotent (200, nothing rewritten)", async () => {
  const key = `${P}twice.jpg`;
  const first = await upload(JPEG, key);
  assert.equal(first.status, 201);
  const before = await storage.head(key);
  const second = await upload(JPEG, key);
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assert.equal(second.body.replaced, false);
  assert.equal(second.body.unchanged, true);
  assert.equal(second.body.etag, first.body.etag);
  assert.equal(second.body.sha256, first.body.sha256);
  assert.equal((await storage.head(key))?.lastModified.getTime(), before?.lastModified.getTime());
  assert.equal((await indexRow(key)).etag, first.body.etag);
});

Deno.test("upload: the seed script's service-role uploads with replace=true work", async () => {
  try {
    assert.equal(await seedSampleImages(stackInfo(), 2), 2);
    assert.equal(await seedSampleImages(stackInfo(), 2), 2, "and again, over the same names");
    assert.ok(await indexRow("14000.png"));
    assert.equal((await storage.head("14001.png"))?.contentType, "image/png");
  } finally {
    for (const key of ["14000.png", "14001.png"]) {
      await storage.delete(key);
      await testDb()`select public.remove_file_from_s3_cache(${key})`;
    }
  }
});

/** A multipart body streamed without a Content-Length (chunked), `size` bytes of file. */
function chunkedUpload(size: number) {
  const boundary = "----chunked-upload-test";
  const head = text(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${P}big.png"\r\n` +
      `Content-Type: image/png\r\n\r\n`,
  );
  const tail = text(`\r\n--${boundary}--\r\n`);
  const chunk = new Uint8Array(256 * 1024);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 0) controller.enqueue(concat(head, PNG.subarray(0, 33)));
      if (sent >= size) {
        controller.enqueue(tail);
        controller.close();
        return;
      }
      controller.enqueue(chunk);
      sent += chunk.length;
    },
  });
  return fetch(`${stackInfo().FUNCTIONS_URL}/upload-to-s3`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${stackInfo().MANAGER_TOKEN}`,
      "content-type": `multipart/form-data; boundary=${boundary}`,
    },
    body,
  });
}

Deno.test("upload: every refused upload gets its status and code, and writes nothing", async () => {
  const info = stackInfo();
  const now = Math.floor(Date.now() / 1000);
  const expired = await projectToken(userClaims({
    sub: "00000000-0000-4000-8000-00000000000a",
    app_metadata: { role: "manager" },
    exp: now - 60,
  }));
  const plainUser = await projectToken(userClaims({ sub: "00000000-0000-4000-8000-0000000000cc" }));
  const oversized = concat(PNG, new Uint8Array(MAX_UPLOAD_BYTES + 1 - PNG.length));
  const bomb = samplePng(5, 16, 16);
  new DataView(bomb.buffer, bomb.byteOffset).setUint32(16, 50_000);
  new DataView(bomb.buffer, bomb.byteOffset).setUint32(20, 50_000);
  const svgWithScript = text(
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>',
  );

  const cases: Array<[string, () => Promise<{ status: number; code?: string }>, number, string]> = [
    [
      "oversized (Content-Length)",
      () => call(upload(oversized, `${P}big.png`)),
      413,
      "payload_too_large",
    ],
    [
      "oversized (chunked, no Content-Length)",
      async () => {
        const response = await chunkedUpload(MAX_UPLOAD_BYTES + 1024 * 1024);
        const body = await response.json();
        return { status: response.status, code: body.error?.code };
      },
      413,
      "payload_too_large",
    ],
    ["../x.jpg", () => call(upload(JPEG, "../x.jpg")), 400, "invalid_filename"],
    [
      "a/b.jpg",
      () => call(upload(JPEG, "x.jpg", { filename: "a/b.jpg" })),
      400,
      "invalid_filename",
    ],
    ["empty name", () => call(upload(JPEG, "x.jpg", { filename: "" })), 400, "invalid_filename"],
    ["SVG named .svg", () => call(upload(svgWithScript, `${P}logo.svg`)), 400, "invalid_filename"],
    [
      "SVG with a script named .png",
      () => call(upload(svgWithScript, `${P}svg.png`)),
      415,
      "unsupported_media_type",
    ],
    [
      "HTML renamed .jpg",
      () =>
        call(
          upload(
            text("<!DOCTYPE html><html><body><script>x()</script></body></html>"),
            `${P}page.jpg`,
          ),
        ),
      415,
      "unsupported_media_type",
    ],
    [
      "PNG with HTML appended",
      () =>
        call(upload(concat(PNG, text("<html><script>alert(1)</script></html>")), `${P}poly.png`)),
      415,
      "polyglot_refused",
    ],
    ["PNG named .jpg", () => call(upload(PNG, `${P}wrong.jpg`)), 415, "content_mismatch"],
    [
      "truncated JPEG",
      () => call(upload(JPEG.subarray(0, JPEG.length - 200), `${P}cut.jpg`)),
      422,
      "corrupt_image",
    ],
    ["zero bytes", () => call(upload(new Uint8Array(0), `${P}zero.png`)), 400, "empty_file"],
    ["pixel bomb", () => call(upload(bomb, `${P}bomb.png`)), 422, "image_too_large"],
    [
      "missing file",
      () => call(upload(null, "", { filename: `${P}nofile.png` })),
      400,
      "missing_file",
    ],
    [
      "not multipart",
      () =>
        call(
          callFunction("upload-to-s3", {
            method: "POST",
            token: info.MANAGER_TOKEN,
            body: JPEG as Uint8Array<ArrayBuffer>,
            headers: { "content-type": "image/jpeg" },
          }),
        ),
      415,
      "unsupported_media_type",
    ],
    [
      "wrong method",
      () => call(upload(JPEG, `${P}put.jpg`, { method: "PUT" })),
      405,
      "method_not_allowed",
    ],
    ["no token", () => call(upload(JPEG, `${P}anon.jpg`, { token: null })), 401, "unauthorized"],
    [
      "anon key",
      () => call(upload(JPEG, `${P}anon.jpg`, { token: info.ANON_KEY })),
      403,
      "forbidden",
    ],
    [
      "expired token",
      () => call(upload(JPEG, `${P}exp.jpg`, { token: expired })),
      401,
      "token_expired",
    ],
    [
      "plain authenticated user",
      () => call(upload(JPEG, `${P}user.jpg`, { token: plainUser })),
      403,
      "forbidden",
    ],
  ];

  const before = await snapshot();
  for (const [label, run, status, code] of cases) {
    const result = await run();
    assert.equal(result.status, status, `${label}: ${JSON.stringify(result)}`);
    assert.equal(result.code, code, label);
    assert.deepEqual(await snapshot(), before, `${label}: nothing written`);
  }
});

async function call(
  pending: Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>,
) {
  const { status, body } = await pending;
  return { status, code: errorCode(body) };
}

Deno.test("upload: a wrong method is 405 with an Allow header", async () => {
  const { status, headers } = await callFunction("upload-to-s3", {
    method: "GET",
    token: stackInfo().MANAGER_TOKEN,
  });
  assert.equal(status, 405);
  assert.match(headers.get("allow") ?? "", /POST/);
});

Deno.test("upload: an index failure after the bucket write is 503 stored_not_indexed, never a silent success", async () => {
  const key = `${P}not-indexed.png`;
  const bytes = samplePng(21);
  const sql = testDb();
  await sql.unsafe(
    "alter function public.add_file_to_s3_cache(text,bigint,text,text,timestamptz,integer,integer) rename to add_file_to_s3_cache_disabled",
  );
  try {
    const { status, body } = await upload(bytes, key);
    assert.equal(status, 503, JSON.stringify(body));
    assert.equal(errorCode(body), "stored_not_indexed");
    assert.match(
      (body.error as { message: string }).message,
      /stored in the bucket .* but not yet in the index.*retry the upload or run a rebuild/,
    );
    assert.deepEqual(await storage.get(key), bytes, "the object is in the bucket");
    assert.equal(await indexRow(key), undefined, "and not in the index");
  } finally {
    await sql.unsafe(
      "alter function public.add_file_to_s3_cache_disabled(text,bigint,text,text,timestamptz,integer,integer) rename to add_file_to_s3_cache",
    );
  }
  // Retrying the same upload, as the message says, completes it.
  const retried = await upload(bytes, key);
  assert.equal(retried.status, 200, JSON.stringify(retried.body));
  assert.equal((await indexRow(key))?.size_bytes, bytes.length);
});

// Teardown, not a test: the file's objects and index rows go, whatever its tests did.
Deno.test.afterAll(async () => {
  let token: string | undefined;
  do {
    const page = await storage.listPage({ prefix: P, token });
    for (const object of page.objects) {
      await storage.delete(object.key);
      await testDb()`select public.remove_file_from_s3_cache(${object.key})`;
    }
    token = page.nextToken;
  } while (token);
  await closeTestDb();
});
