/**
 * The hostile upload corpus (`tests/hostile/uploads.json`) against `upload-to-s3`: polyglots,
 * bombs, lying headers and lengths, broken multipart bodies, each through the multipart route
 * and, for the file cases, through the direct route (presigned PUT, then confirm). Every refusal
 * must answer its documented status and code and write nothing: no object under the name (listed
 * with an independent client), no index row, no staging object left behind.
 */
import assert from "node:assert/strict";
import { HOSTILE_FILES } from "../hostile/fixtures.ts";
import { bucketKeys, listBucket } from "../support/bucket.ts";
import { concat, fixture, text } from "../support/bytes.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { testStorage } from "../support/s3.ts";
import { callFunction, stackInfo } from "../support/stack.ts";

const P = `hu${crypto.randomUUID().slice(0, 6)}-`;
const MAX_UPLOAD_BYTES = 10 * 1024 * 1024; // the stack runs with the default

interface FileCase {
  case: string;
  build: string;
  name: string;
  partType?: string;
  status?: number;
  code?: string;
  accept?: string;
  pending?: string;
}
interface MultipartCase {
  case: string;
  build: string;
  status: number;
  code: string;
}
const CORPUS = JSON.parse(
  await Deno.readTextFile(new URL("../hostile/uploads.json", import.meta.url)),
) as { files: FileCase[]; multipart: MultipartCase[] };

const errorCode = (body: Record<string, unknown>) => (body.error as { code?: string })?.code;

/** What a refusal must not have written: objects, staging objects and index rows for `name`. */
async function traces(name: string) {
  const [objects, staged, rows] = await Promise.all([
    bucketKeys(P),
    listBucket("_incoming/"),
    testDb()`select filename from public.s3_image_cache where starts_with(filename, ${P})`,
  ]);
  return {
    objects,
    staged: staged.map((o) => o.key).filter((key) => key.endsWith(`/${name}`)),
    rows: rows.map((row) => row.filename as string),
  };
}

/** The whole index's size and last write, to prove no row anywhere changed. */
async function indexMark() {
  const [row] = await testDb()`
    select count(*)::int as rows, coalesce(max(updated_at)::text, '') as touched
    from public.s3_image_cache`;
  return row;
}

function multipartUpload(bytes: Uint8Array, fileName: string, partType?: string) {
  const form = new FormData();
  form.set(
    "file",
    new File([bytes as Uint8Array<ArrayBuffer>], fileName, partType ? { type: partType } : {}),
  );
  return callFunction("upload-to-s3", {
    method: "POST",
    token: stackInfo().MANAGER_TOKEN,
    body: form,
  });
}

const MIME: Record<string, string> = {
  jpg: "image/jpeg",
  png: "image/png",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  svg: "image/svg+xml",
};

/** The direct route: prepare, PUT the bytes to the presigned URL, confirm. */
async function directUpload(bytes: Uint8Array, name: string) {
  const token = stackInfo().MANAGER_TOKEN;
  const contentType = MIME[name.split(".").pop()!] ?? "application/octet-stream";
  const prepared = await callFunction("upload-to-s3/direct", {
    method: "POST",
    token,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ filename: name, contentType, size: bytes.length }),
  });
  if (prepared.status !== 200) return { step: "prepare", ...prepared };
  const ticket = prepared.body as {
    uploadUrl: string;
    headers: Record<string, string>;
    stagingKey: string;
  };
  const put = await fetch(ticket.uploadUrl, {
    method: "PUT",
    headers: ticket.headers,
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  await put.body?.cancel();
  assert.equal(put.status, 200, `PUT to the staging key of ${name}`);
  const confirmed = await callFunction("upload-to-s3/direct/confirm", {
    method: "POST",
    token,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ stagingKey: ticket.stagingKey }),
  });
  return { step: "confirm", ...confirmed };
}

async function removeUpload(key: string) {
  await testStorage().delete(key);
  await testDb()`select public.remove_file_from_s3_cache(${key})`;
}

const totalObjects = (await bucketKeys()).length;

for (const c of CORPUS.files) {
  const name = `${P}${c.name}`;
  if (c.accept) {
    Deno.test(`hostile upload: ${c.case} is stored as ${c.accept}, by either route`, async () => {
      const bytes = HOSTILE_FILES[c.build]();
      const { status, body } = await multipartUpload(bytes, name, c.partType);
      assert.equal(status, 201, JSON.stringify(body));
      assert.equal(body.contentType, c.accept);
      assert.equal((await testStorage().head(name))?.contentType, c.accept);
      const [row] = await testDb()`
        select content_type from public.s3_image_cache where filename = ${name}`;
      assert.equal(row?.content_type, c.accept);
      await removeUpload(name);
      const direct = await directUpload(bytes, name);
      assert.equal(direct.status, 201, JSON.stringify(direct.body));
      assert.equal((await testStorage().head(name))?.contentType, c.accept);
      await removeUpload(name);
      await closeTestDb();
    });
    continue;
  }
  Deno.test({
    name: `hostile upload: ${c.case} → ${c.status} ${c.code}, nothing written, by either route`,
    ignore: Boolean(c.pending),
    async fn() {
      const bytes = HOSTILE_FILES[c.build]();
      const before = await traces(c.name);
      const mark = await indexMark();
      const multipart = await multipartUpload(bytes, name, c.partType);
      assert.equal(multipart.status, c.status, `multipart: ${JSON.stringify(multipart.body)}`);
      assert.equal(errorCode(multipart.body), c.code);
      assert.ok(multipart.headers.get("access-control-allow-origin"), "CORS on the refusal");
      assert.deepEqual(await traces(c.name), before, "multipart: nothing written");

      const direct = await directUpload(bytes, name);
      assert.equal(
        direct.status,
        c.status,
        `direct ${direct.step}: ${JSON.stringify(direct.body)}`,
      );
      assert.equal(errorCode(direct.body), c.code);
      assert.deepEqual(await traces(c.name), before, "direct: nothing written, staging cleared");
      assert.deepEqual(await indexMark(), mark, "no index row anywhere changed");
      await closeTestDb();
    },
  });
}

// Raw multipart bodies, for what FormData cannot send.
const B = "----hostile-boundary-7d1";
const JPEG = fixture("product.jpg");

function part(headers: string, body: Uint8Array | string): Uint8Array {
  return concat(
    text(`--${B}\r\n${headers}\r\n\r\n`),
    typeof body === "string" ? text(body) : body,
    text("\r\n"),
  );
}
const filePart = (fileName: string, bytes = JPEG) =>
  part(
    `Content-Disposition: form-data; name="file"; filename="${fileName}"\r\nContent-Type: image/jpeg`,
    bytes,
  );
const field = (fieldName: string, value: Uint8Array | string) =>
  part(`Content-Disposition: form-data; name="${fieldName}"`, value);
const end = text(`--${B}--\r\n`);

/** Each builder: the raw body and its Content-Type; `contentLength` overrides the real one. */
const MULTIPART: Record<
  string,
  () => { body: Uint8Array; contentType?: string; contentLength?: number }
> = {
  duplicate_file: () => ({
    body: concat(filePart(`${P}a.jpg`), filePart(`${P}b.jpg`), end),
  }),
  duplicate_filename: () => ({
    body: concat(
      field("filename", `${P}a.jpg`),
      field("filename", `${P}b.jpg`),
      filePart("x.jpg"),
      end,
    ),
  }),
  no_file: () => ({ body: concat(field("filename", `${P}a.jpg`), end) }),
  file_as_text: () => ({
    body: concat(field("filename", `${P}a.jpg`), field("file", "not a file"), end),
  }),
  cut_body: () => ({ body: concat(field("filename", `${P}a.jpg`), filePart("x.jpg")) }),
  no_boundary: () => ({
    body: concat(filePart(`${P}a.jpg`), end),
    contentType: "multipart/form-data",
  }),
  huge_filename_field: () => ({
    body: concat(field("filename", `${P}${"a".repeat(300_000)}.jpg`), filePart("x.jpg"), end),
  }),
  huge_extra_part: () => ({
    body: concat(
      field("junk", new Uint8Array(MAX_UPLOAD_BYTES + 128 * 1024)),
      filePart(`${P}a.jpg`),
      end,
    ),
  }),
  part_filename_traversal: () => ({ body: concat(filePart(`../../${P}etc.jpg`), end) }),
  part_filename_svg: () => ({ body: concat(filePart(`${P}logo.svg`), end) }),
  overlong_utf8_slash: () => ({
    // 0xC0 0xAE is an overlong ".", 0xC0 0xAF an overlong "/": a decoder that accepted them
    // would read "../"; ours must not let either reading through.
    body: concat(
      field("filename", concat(new Uint8Array([0xc0, 0xae, 0xc0, 0xae, 0x2f]), text(`${P}x.jpg`))),
      filePart("x.jpg"),
      end,
    ),
  }),
  request_type_png: () => ({ body: concat(filePart(`${P}a.jpg`), end), contentType: "image/png" }),
  boundary_mismatch: () => ({
    body: concat(filePart(`${P}a.jpg`), end),
    contentType: "multipart/form-data; boundary=----another-boundary",
  }),
  boundary_too_long: () => {
    const long = "b".repeat(200);
    return {
      body: text(
        `--${long}\r\nContent-Disposition: form-data; name="file"; filename="${P}a.jpg"\r\n\r\nx\r\n--${long}--\r\n`,
      ),
      contentType: `multipart/form-data; boundary=${long}`,
    };
  },
  content_length_above_limit: () => ({
    body: concat(filePart(`${P}a.jpg`), end),
    contentLength: 20 * 1024 * 1024,
  }),
  content_length_short: () => {
    const body = concat(field("filename", `${P}a.jpg`), filePart("x.jpg"), end);
    return { body, contentLength: body.length - 300 };
  },
};

/**
 * Sends `body` chunked (no Content-Length, as a browser streaming a form would), so a limit is
 * enforced while reading, and reads the answer even when it comes before the body ends.
 */
async function streamedPost(
  body: Uint8Array,
  contentType: string,
): Promise<{ status: number; code?: string }> {
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= body.length) return controller.close();
      controller.enqueue(body.slice(at, at + 256 * 1024));
      at += 256 * 1024;
    },
  });
  const response = await fetch(`${stackInfo().FUNCTIONS_URL}/upload-to-s3`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${stackInfo().MANAGER_TOKEN}`,
      "content-type": contentType,
    },
    body: stream,
  });
  const answer = await response.json().catch(() => ({}));
  return { status: response.status, code: answer.error?.code };
}

/** Sends a raw HTTP/1.1 request (any Content-Length) and reads the answer's status and JSON. */
async function rawPost(
  body: Uint8Array,
  contentType: string,
  contentLength: number,
): Promise<{ status: number; code?: string }> {
  const url = new URL(`${stackInfo().FUNCTIONS_URL}/upload-to-s3`);
  const connection = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    const head = `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n` +
      `Authorization: Bearer ${stackInfo().MANAGER_TOKEN}\r\nContent-Type: ${contentType}\r\n` +
      `Content-Length: ${contentLength}\r\nConnection: close\r\n\r\n`;
    await connection.write(text(head));
    // Write what the header promised or less; the server may answer (and close) early.
    await connection.write(body.subarray(0, Math.min(body.length, contentLength))).catch(() => 0);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    const deadline = setTimeout(() => connection.close(), 30_000);
    try {
      for (;;) {
        const n = await connection.read(buffer).catch(() => null);
        if (n === null) break;
        chunks.push(buffer.slice(0, n));
        const sofar = new TextDecoder().decode(concat(...chunks));
        const split = sofar.indexOf("\r\n\r\n");
        const length = /content-length: *(\d+)/i.exec(sofar.slice(0, split))?.[1];
        if (split >= 0 && length && sofar.length >= split + 4 + Number(length)) break;
      }
    } finally {
      clearTimeout(deadline);
    }
    const answer = new TextDecoder().decode(concat(...chunks));
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
    const json = answer.slice(answer.indexOf("\r\n\r\n") + 4);
    let code: string | undefined;
    try {
      code = JSON.parse(json).error?.code;
    } catch {
      code = `(not JSON: ${json.slice(0, 60)})`;
    }
    return { status, code };
  } finally {
    try {
      connection.close();
    } catch {
      // already closed by the deadline
    }
  }
}

for (const c of CORPUS.multipart) {
  Deno.test(`hostile multipart: ${c.case} → ${c.status} ${c.code}, nothing written`, async () => {
    const built = MULTIPART[c.build]();
    const before = await traces("");
    const mark = await indexMark();
    const contentType = built.contentType ?? `multipart/form-data; boundary=${B}`;
    const result = built.contentLength === undefined
      ? await streamedPost(built.body, contentType)
      : await rawPost(built.body, contentType, built.contentLength);
    assert.deepEqual(result, { status: c.status, code: c.code });
    assert.deepEqual((await traces("")).objects, before.objects, "no object under the prefix");
    assert.deepEqual(await indexMark(), mark, "no index row changed");
    await closeTestDb();
  });
}

Deno.test("hostile upload: the bucket holds as many objects as before the corpus ran", async () => {
  assert.equal((await bucketKeys()).length, totalObjects);
  assert.deepEqual(await bucketKeys(P), []);
  await closeTestDb();
});
