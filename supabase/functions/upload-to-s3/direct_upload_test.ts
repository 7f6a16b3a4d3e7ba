/**
 * The signed direct upload over HTTP (`POST /direct`, then `POST /direct/confirm`), with the
 * bucket and the index in memory; the browser's PUT to the signed URL is played by writing the
 * staging key directly.
 */
import assert from "node:assert/strict";
import { setUpUploadServices, upload } from "./testdata/services.ts";
import { ownerSegment } from "./direct_upload.ts";
import { STAGING_PREFIX } from "../_shared/images/names.ts";
import { samplePng } from "../../../scripts/lib/png.ts";
import { text } from "../../../tests/support/bytes.ts";
import { FakeStorage } from "../_shared/platform/testdata/fake_storage.ts";
import { requestAs, type TestCaller } from "../_shared/auth/testdata/test_callers.ts";
import { sqlError } from "../_shared/platform/testdata/sql_error.ts";

const BASE = "https://ref.supabase.co/functions/v1/upload-to-s3";
const MAX_BYTES = 100_000;
const PNG = samplePng(5, 40, 30);

const setup = (storage?: FakeStorage) => setUpUploadServices(MAX_BYTES, storage);

async function call(who: TestCaller, path: string, body: unknown, sub = "user-1") {
  const response = await upload.fetch(await requestAs(who, "POST", `${BASE}${path}`, body, sub));
  return { status: response.status, body: await response.json() };
}

/** Prepares an upload of `bytes` as `name` and plays the browser's PUT; answers the ticket. */
async function staged(storage: FakeStorage, bytes: Uint8Array, name = "9.png", sub = "user-1") {
  const { status, body } = await call(
    "manager",
    "/direct",
    { filename: name, contentType: "image/png", size: bytes.length },
    sub,
  );
  assert.equal(status, 200, JSON.stringify(body));
  storage.seed(body.stagingKey, bytes);
  return body;
}

Deno.test("POST /direct hands out a signed PUT to an owner-bound staging key", async () => {
  const { storage } = setup();
  storage.seed("9.png", PNG);
  const { status, body } = await call("manager", "/direct", {
    filename: "9.png",
    contentType: "image/png; charset=binary",
    size: PNG.length,
  }, "0b6e…/user");
  assert.equal(status, 200);
  assert.equal(body.method, "PUT");
  assert.equal(body.key, "9.png");
  assert.deepEqual(body.headers, { "content-type": "image/png" });
  assert.equal(body.exists, true, "the name is taken: confirming will need replace");
  const owner = ownerSegment("0b6e…/user");
  assert.equal(owner, "0b6e__user", "the owner segment can neither add a path part nor be empty");
  assert.match(
    body.stagingKey,
    new RegExp(`^${STAGING_PREFIX}${owner}/[0-9a-f-]{36}/${PNG.length}/9\\.png$`),
  );
  assert.match(body.uploadUrl, new RegExp(`length=${PNG.length}`));
  assert.ok(Date.parse(body.expiresAt) > Date.now());
});

Deno.test("POST /direct refuses what could never be confirmed, before anything is signed", async () => {
  setup();
  const cases: Array<[unknown, number, string]> = [
    [{ filename: "9.png", contentType: "image/svg+xml", size: 10 }, 415, "unsupported_media_type"],
    [{ filename: "9.jpg", contentType: "image/png", size: 10 }, 415, "content_mismatch"],
    [{ filename: "9.png", contentType: "image/png", size: 0 }, 400, "empty_file"],
    [
      { filename: "9.png", contentType: "image/png", size: MAX_BYTES + 1 },
      413,
      "payload_too_large",
    ],
    [{ filename: "a/9.png", contentType: "image/png", size: 10 }, 400, "invalid_filename"],
    [{ filename: "9.png", contentType: "image/png", size: "10" }, 400, "validation_failed"],
    [
      { filename: "9.png", contentType: "image/png", size: 10, pad: "x".repeat(20_000) },
      413,
      "payload_too_large",
    ],
  ];
  for (const [body, status, code] of cases) {
    const answer = await call("manager", "/direct", body);
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    assert.equal(answer.body.error.code, code);
  }
});

Deno.test("POST /direct/confirm publishes the checked bytes, indexes them and deletes the staging copy", async () => {
  const { storage, index } = setup();
  const ticket = await staged(storage, PNG);
  const { status, body } = await call("manager", "/direct/confirm", {
    stagingKey: ticket.stagingKey,
  });
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.key, "9.png");
  assert.deepEqual(storage.objects.get("9.png")?.bytes, PNG);
  assert.equal(storage.objects.get("9.png")?.contentType, "image/png");
  assert.equal(storage.objects.has(ticket.stagingKey), false);
  assert.equal(index.rows.get("9.png")?.width, 40);

  const again = await call("manager", "/direct/confirm", { stagingKey: ticket.stagingKey });
  assert.equal(again.status, 404, "a confirmed upload cannot be confirmed twice");
});

Deno.test("POST /direct/confirm by another user is 403 and leaves the owner's upload alone", async () => {
  const { storage } = setup();
  const ticket = await staged(storage, PNG, "9.png", "owner");
  const { status, body } = await call(
    "admin",
    "/direct/confirm",
    { stagingKey: ticket.stagingKey },
    "someone-else",
  );
  assert.equal(status, 403);
  assert.match(body.error.message, /prepared by another user/);
  assert.ok(storage.objects.has(ticket.stagingKey));
  assert.equal(storage.objects.has("9.png"), false);
});

Deno.test("POST /direct/confirm refuses keys it did not hand out, and a missing upload is 404", async () => {
  setup();
  const owner = ownerSegment("user-1");
  for (
    const key of [
      "9.png",
      `_incoming/${owner}/not-a-uuid/10/9.png`,
      `_incoming/${owner}/00000000-0000-0000-0000-000000000000/10/../9.png`,
      `_incoming/${owner}/00000000-0000-0000-0000-000000000000/10/9.exe`,
    ]
  ) {
    const answer = await call("manager", "/direct/confirm", { stagingKey: key });
    assert.equal(answer.status, 400, key);
    assert.ok(["validation_failed", "invalid_filename"].includes(answer.body.error.code), key);
  }
  const missing = await call("manager", "/direct/confirm", {
    stagingKey: `_incoming/${owner}/00000000-0000-0000-0000-000000000000/10/9.png`,
  });
  assert.equal(missing.status, 404);
});

Deno.test("POST /direct/confirm deletes a refused file: wrong size, not an image, too large, empty, taken name", async () => {
  const cases: Array<[string, (s: FakeStorage, key: string) => void, number, string]> = [
    ["other size", (s, key) => s.seed(key, PNG.slice(0, 100)), 400, "validation_failed"],
    [
      "markup",
      (s, key) => s.seed(key, text("<html>".padEnd(PNG.length, " "))),
      415,
      "unsupported_media_type",
    ],
    [
      "larger than allowed",
      (s, key) => s.seed(key, new Uint8Array(MAX_BYTES + 1)),
      413,
      "payload_too_large",
    ],
    ["empty", (s, key) => s.seed(key, new Uint8Array(0)), 400, "empty_file"],
    [
      "taken",
      (s, key) => {
        s.seed(key, PNG);
        s.seed("9.png", samplePng(6, 40, 30));
      },
      409,
      "already_exists",
    ],
  ];
  for (const [label, upload, status, code] of cases) {
    const { storage, index } = setup();
    const ticket = await staged(storage, PNG);
    upload(storage, ticket.stagingKey);
    const answer = await call("manager", "/direct/confirm", { stagingKey: ticket.stagingKey });
    assert.equal(answer.status, status, `${label}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error.code, code, label);
    assert.equal(storage.objects.has(ticket.stagingKey), false, `${label}: staging copy deleted`);
    assert.equal(index.rows.size, 0, label);
  }
});

Deno.test("POST /direct/confirm with replace overwrites a taken name", async () => {
  const { storage } = setup();
  storage.seed("9.png", samplePng(7, 40, 30));
  const ticket = await staged(storage, PNG);
  const { status, body } = await call("manager", "/direct/confirm", {
    stagingKey: ticket.stagingKey,
    replace: "true",
  });
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.replaced, true);
  assert.deepEqual(storage.objects.get("9.png")?.bytes, PNG);
});

/** A bucket where another PUT to the signed URL lands right after the bytes were read. */
class RacingStorage extends FakeStorage {
  override async getWithEtag(key: string) {
    const read = await super.getWithEtag(key);
    this.seed(key, samplePng(8, 40, 30).slice(0, read.bytes.length)); // same size, other bytes
    return read;
  }
}

Deno.test("POST /direct/confirm publishes nothing when the staged file changed after its check (409)", async () => {
  const { storage, index } = setup(new RacingStorage());
  const ticket = await staged(storage, PNG);
  const { status, body } = await call("manager", "/direct/confirm", {
    stagingKey: ticket.stagingKey,
  });
  assert.equal(status, 409);
  assert.match(body.error.message, /changed while it was checked/);
  assert.equal(storage.objects.has("9.png"), false);
  assert.equal(index.rows.size, 0);
});

/**
 * A bucket that ignores `x-amz-copy-source-if-match` (as s3rver does), where other bytes land
 * on the staging key between the check and the copy: the copy publishes them.
 */
class ConditionIgnoringStorage extends FakeStorage {
  constructor(readonly restaged: Uint8Array) {
    super();
  }
  override copy(
    source: string,
    key: string,
    options: Parameters<FakeStorage["copy"]>[2],
  ) {
    this.seed(source, this.restaged);
    return super.copy(source, key, { ...options, sourceIfMatch: undefined });
  }
}

Deno.test("POST /direct/confirm takes down and refuses bytes a store published without honouring the copy condition", async () => {
  const html = text("<!doctype html><script>alert(1)</script>".padEnd(PNG.length, " "));
  const cases: Array<[string, Uint8Array]> = [["HTML", html], [
    "same-size PNG",
    samplePng(8, 40, 30),
  ]];
  for (const [label, restaged] of cases) {
    const { storage, index } = setup(new ConditionIgnoringStorage(restaged));
    const ticket = await staged(storage, PNG);
    const { status, body } = await call("manager", "/direct/confirm", {
      stagingKey: ticket.stagingKey,
    });
    assert.equal(status, 409, `${label}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, "publish_mismatch", label);
    assert.match(body.error.message, /"9\.png" is not the one that was checked/);
    assert.equal(storage.objects.has("9.png"), false, `${label}: nothing stays published`);
    assert.equal(index.rows.size, 0, `${label}: nothing indexed`);
  }
});

Deno.test("POST /direct/confirm keeps the staging copy after a 5xx, so the same confirm can be retried", async () => {
  const { storage, index } = setup();
  const ticket = await staged(storage, PNG);
  index.failWith = sqlError("42883", "function does not exist");
  const failed = await call("manager", "/direct/confirm", { stagingKey: ticket.stagingKey });
  assert.equal(failed.status, 503);
  assert.equal(failed.body.error.code, "stored_not_indexed");
  assert.ok(storage.objects.has(ticket.stagingKey));

  index.failWith = undefined;
  const retried = await call("manager", "/direct/confirm", { stagingKey: ticket.stagingKey });
  assert.equal(retried.status, 200, JSON.stringify(retried.body));
  assert.ok(index.rows.has("9.png"));
  assert.equal(storage.objects.has(ticket.stagingKey), false);
});

Deno.test("direct upload routes need a manager or an admin", async () => {
  setup();
  const body = { filename: "9.png", contentType: "image/png", size: 10 };
  for (
    const [who, status] of [["none", 401], ["authenticated", 403], [
      "user_metadata_admin",
      403,
    ]] as const
  ) {
    assert.equal((await call(who, "/direct", body)).status, status, who);
    assert.equal((await call(who, "/direct/confirm", { stagingKey: "x" })).status, status, who);
  }
});
