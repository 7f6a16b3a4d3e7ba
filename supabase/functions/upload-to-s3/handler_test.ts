/**
 * `upload-to-s3`'s multipart upload through the deployed entry point (`index.ts`), with the
 * bucket and the index in memory: what a store manager sees for good and bad uploads, and who
 * may upload at all.
 */
import assert from "node:assert/strict";
import { composeFunction } from "./index.ts";
import type { Handler } from "../_shared/server/responses.ts";
import { setUpUploadServices, upload } from "./testdata/services.ts";
import { sha256Hex } from "./uploader.ts";
import { VALID_FUNCTION_ENV } from "../../../tests/support/env.ts";
import { samplePng } from "../../../scripts/lib/png.ts";
import { text } from "../../../tests/support/bytes.ts";
import { headersFor, TEST_KEYS, type TestCaller } from "../_shared/auth/testdata/test_callers.ts";
import { sqlError } from "../_shared/platform/testdata/sql_error.ts";

const URL_BASE = "https://ref.supabase.co/functions/v1/upload-to-s3";
const MAX_BYTES = 50_000;
const PNG = samplePng(1, 40, 30);
const OTHER_PNG = samplePng(2, 40, 30);

/** A fresh function over an in-memory bucket and index. */
const setup = () => setUpUploadServices(MAX_BYTES);

/** Posts a form as `who`; answers the status and parsed body. */
async function post(who: TestCaller, form: FormData | BodyInit, contentType?: string) {
  const headers = await headersFor(who);
  if (contentType) headers["content-type"] = contentType;
  const response = await upload.fetch(
    new Request(URL_BASE, { method: "POST", headers, body: form }),
  );
  return { status: response.status, body: await response.json(), headers: response.headers };
}

function form(fields: Record<string, string | [Uint8Array, string]>): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === "string") data.append(name, value);
    else data.append(name, new File([value[0] as BlobPart], value[1]));
  }
  return data;
}

Deno.test("upload-to-s3 POST / stores and indexes a PNG under its name (201)", async () => {
  const { storage, index } = setup();
  const { status, body, headers } = await post("manager", form({ file: [PNG, "1.png"] }));
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(headers.get("access-control-allow-origin"), "*");
  assert.deepEqual(
    { key: body.key, size: body.size, type: body.contentType, w: body.width, h: body.height },
    { key: "1.png", size: PNG.length, type: "image/png", w: 40, h: 30 },
  );
  assert.equal(body.sha256, sha256Hex(PNG));
  assert.equal(storage.objects.get("1.png")?.contentType, "image/png");
  assert.equal(index.rows.get("1.png")?.etag, body.etag);
});

Deno.test("upload-to-s3 POST / follows the seed contract: the filename field names the image", async () => {
  const { index } = setup();
  const { status, body } = await post(
    "admin",
    form({ file: [PNG, "IMG_0001.PNG"], filename: "14000.png" }),
  );
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.key, "14000.png");
  assert.ok(index.rows.has("14000.png"));
});

Deno.test("upload-to-s3 POST /: a different image under a taken name needs replace (true, 1, yes, on)", async () => {
  const { storage } = setup();
  await post("manager", form({ file: [PNG, "2.png"] }));
  const taken = await post("manager", form({ file: [OTHER_PNG, "2.png"] }));
  assert.equal(taken.status, 409);
  assert.equal(taken.body.error.code, "already_exists");
  assert.equal(storage.objects.get("2.png")?.metadata?.sha256, sha256Hex(PNG));

  for (const flag of ["true", "1", "yes", "ON"]) {
    const bytes = samplePng(10 + flag.length, 40, 30);
    const replaced = await post("manager", form({ file: [bytes, "2.png"], replace: flag }));
    assert.equal(replaced.status, 201, flag);
    assert.equal(replaced.body.replaced, true);
    assert.equal(storage.objects.get("2.png")?.metadata?.sha256, sha256Hex(bytes));
  }
  const notAFlag = await post("manager", form({ file: [PNG, "2.png"], replace: "please" }));
  assert.equal(notAFlag.status, 409);

  const same = await post(
    "manager",
    form({ file: [storage.objects.get("2.png")!.bytes, "2.png"] }),
  );
  assert.equal(same.status, 200, "the same bytes again are accepted without a write");
  assert.equal(same.body.unchanged, true);
});

Deno.test("upload-to-s3 POST / refuses bad uploads with the right 4xx and writes nothing", async () => {
  const cases: Array<
    [string, () => Promise<{ status: number; body: { error: { code: string } } }>, number, string]
  > = [
    [
      "not multipart",
      () => post("manager", JSON.stringify({ file: "x" }), "application/json"),
      415,
      "unsupported_media_type",
    ],
    ["no file", () => post("manager", form({ filename: "1.png" })), 400, "missing_file"],
    ["file as text", () => post("manager", form({ file: "just text" })), 400, "missing_file"],
    [
      "empty file",
      () => post("manager", form({ file: [new Uint8Array(0), "1.png"] })),
      400,
      "empty_file",
    ],
    [
      "path in the name",
      () => post("manager", form({ file: [PNG, "../1.png"] })),
      400,
      "invalid_filename",
    ],
    [
      "SVG",
      () =>
        post(
          "manager",
          form({
            file: [
              text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
              "1.svg",
            ],
          }),
        ),
      400,
      "invalid_filename",
    ],
    [
      "markup named .png",
      () => post("manager", form({ file: [text("<html><script>x</script></html>"), "1.png"] })),
      415,
      "unsupported_media_type",
    ],
    [
      "PNG named .jpg",
      () => post("manager", form({ file: [PNG, "1.jpg"] })),
      415,
      "content_mismatch",
    ],
    [
      "too large",
      () => post("manager", form({ file: [new Uint8Array(MAX_BYTES + 70_000), "1.png"] })),
      413,
      "payload_too_large",
    ],
  ];
  for (const [label, send, status, code] of cases) {
    const { storage, index } = setup();
    const answer = await send();
    assert.equal(answer.status, status, `${label}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error.code, code, label);
    assert.equal(storage.objects.size, 0, `${label}: nothing in the bucket`);
    assert.equal(index.rows.size, 0, `${label}: nothing in the index`);
  }
});

Deno.test("upload-to-s3 POST /: an index failure after the write answers 503 stored_not_indexed", async () => {
  const { storage, index } = setup();
  index.failWith = sqlError("42883", "function does not exist");
  const { status, body } = await post("manager", form({ file: [PNG, "3.png"] }));
  assert.equal(status, 503);
  assert.equal(body.error.code, "stored_not_indexed");
  assert.match(body.error.message, /stored in the bucket as "3\.png" but not yet in the index/);
  assert.ok(storage.objects.has("3.png"));

  index.failWith = undefined;
  const retried = await post("manager", form({ file: [PNG, "3.png"] }));
  assert.equal(retried.status, 200, "the retry the message asks for repairs the index");
  assert.ok(index.rows.has("3.png"));
});

Deno.test("upload-to-s3: only managers, admins and service_role may upload", async () => {
  const expected: Record<TestCaller, number> = {
    none: 401,
    anon: 403,
    authenticated: 403,
    user_metadata_admin: 403,
    manager: 201,
    admin: 201,
    service: 201,
  };
  for (const [who, status] of Object.entries(expected) as Array<[TestCaller, number]>) {
    const { storage } = setup();
    const answer = await post(who, form({ file: [PNG, "4.png"] }));
    assert.equal(answer.status, status, `${who}: ${JSON.stringify(answer.body)}`);
    assert.equal(storage.objects.size, status === 201 ? 1 : 0, who);
  }
});

Deno.test("upload-to-s3: unknown paths 404, other methods 405, preflight 204 without a token", async () => {
  setup();
  const headers = await headersFor("manager");
  const missing = await upload.fetch(
    new Request(`${URL_BASE}/elsewhere`, { method: "POST", headers }),
  );
  assert.equal(missing.status, 404);
  const wrong = await upload.fetch(new Request(URL_BASE, { headers }));
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "POST, OPTIONS");
  const preflight = await upload.fetch(new Request(URL_BASE, { method: "OPTIONS" }));
  assert.equal(preflight.status, 204);
});

Deno.test("upload-to-s3 builds its services from the configuration, and names a missing variable", async () => {
  const env = (vars: Record<string, string | undefined>) => ({
    ...VALID_FUNCTION_ENV,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: TEST_KEYS.publishable }),
    LEGACY_JWT_SECRET: TEST_KEYS.legacyJwtSecret,
    ...vars,
  });
  const postTo = async (
    fetch: Handler,
    body: BodyInit,
    type?: string,
  ) => {
    const headers = await headersFor("manager");
    if (type) headers["content-type"] = type;
    const response = await fetch(new Request(URL_BASE, { method: "POST", headers, body }));
    return { status: response.status, body: await response.json() };
  };
  const broken = composeFunction(env({ AWS_SECRET_ACCESS_KEY: undefined }));
  const refused = await postTo(broken, form({ file: [PNG, "5.png"] }));
  assert.equal(refused.status, 500);
  assert.equal(refused.body.error.code, "misconfigured");
  assert.match(refused.body.error.message, /AWS_SECRET_ACCESS_KEY is not set/);
  // Answered from the configured services before the bucket or the database is needed.
  const configured = composeFunction(env({}));
  assert.equal((await postTo(configured, "{}", "application/json")).status, 415);
});
