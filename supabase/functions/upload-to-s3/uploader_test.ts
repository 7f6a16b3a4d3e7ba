import assert from "node:assert/strict";
import { samplePng } from "../../../scripts/lib/png.ts";
import { parseConfig } from "../_shared/platform/config.ts";
import { AppError } from "../_shared/errors.ts";
import type { EntryMetadata, ImageIndex } from "../_shared/images/image_index.ts";
import {
  type ImageStorage,
  KeyExistsError,
  type PutOptions,
  type StoredObject,
} from "../_shared/platform/storage.ts";
import { createImageUploader, sha256Hex, uploadSettings } from "./uploader.ts";

/** An in-memory bucket with just what the uploader uses. */
function fakeStorage() {
  const objects = new Map<string, StoredObject & { bytes: Uint8Array }>();
  const puts: string[] = [];
  const heads: string[] = [];
  const storage = {
    bucket: "fake",
    objects,
    puts,
    heads,
    put(key: string, body: Uint8Array, options: PutOptions) {
      if (options.onlyIfAbsent && objects.has(key)) {
        return Promise.reject(new KeyExistsError(key));
      }
      puts.push(key);
      const etag = `etag-${puts.length}`;
      objects.set(key, {
        key,
        size: body.length,
        etag,
        lastModified: new Date(1_700_000_000_000),
        contentType: options.contentType,
        metadata: options.metadata,
        bytes: body,
      });
      return Promise.resolve({ etag, lastModified: new Date(1_700_000_000_000) });
    },
    head: (key: string) => {
      heads.push(key);
      return Promise.resolve(objects.get(key) ?? null);
    },
  };
  return storage as unknown as ImageStorage & typeof storage;
}

/** An index that fails its first `failures` writes with a connection-level error. */
function flakyIndex(failures: number) {
  const rows = new Map<string, EntryMetadata>();
  let calls = 0;
  const index = {
    rows,
    get calls() {
      return calls;
    },
    add(filename: string, metadata: EntryMetadata = {}) {
      calls++;
      if (calls <= failures) {
        return Promise.reject(
          Object.assign(new Error("function does not exist"), { code: "42883" }),
        );
      }
      rows.set(filename, metadata);
      return Promise.resolve();
    },
  };
  return index as unknown as ImageIndex & typeof index;
}

const settings = uploadSettings(parseConfig({
  AWS_ACCESS_KEY: "k",
  AWS_SECRET_ACCESS_KEY: "s",
  S3_BUCKET: "bucket",
  SUPABASE_DB_URL: "postgres://x",
}));
const lookupFirst = { ...settings, conditionalWrites: false };
const PNG = samplePng(3, 40, 30);

Deno.test("uploader stores, then indexes with the object's metadata", async () => {
  const storage = fakeStorage();
  const index = flakyIndex(0);
  const uploader = createImageUploader({ storage, index, settings });
  const { status, body } = await uploader.upload({ key: "1.png", bytes: PNG, replace: false });
  assert.equal(status, 201);
  assert.equal(body.sha256, sha256Hex(PNG));
  assert.equal(storage.objects.get("1.png")?.metadata?.sha256, body.sha256);
  assert.deepEqual(index.rows.get("1.png"), {
    sizeBytes: PNG.length,
    etag: "etag-1",
    contentType: "image/png",
    lastModified: new Date(1_700_000_000_000),
    width: 40,
    height: 30,
  });
  assert.deepEqual(storage.heads, [], "a new name costs one create-only write and no lookup");
});

Deno.test("uploader answers stored_not_indexed (503) when the index write fails, asking once", async () => {
  const storage = fakeStorage();
  const index = flakyIndex(99);
  const uploader = createImageUploader({ storage, index, settings });
  await assert.rejects(
    uploader.upload({ key: "3.png", bytes: PNG, replace: false }),
    (error: AppError) =>
      error.status === 503 && error.code === "stored_not_indexed" &&
      /stored in the bucket as "3\.png" but not yet in the index/.test(error.message),
  );
  assert.equal(index.calls, 1, "no retry around the index client, which retries by itself");
  assert.ok(storage.objects.has("3.png"), "the bucket write stays; the answer says so");
});

Deno.test("uploader: same bytes twice is idempotent, different bytes need replace", async () => {
  const storage = fakeStorage();
  const index = flakyIndex(0);
  const uploader = createImageUploader({ storage, index, settings });
  await uploader.upload({ key: "4.png", bytes: PNG, replace: false });
  const again = await uploader.upload({ key: "4.png", bytes: PNG, replace: false });
  assert.equal(again.status, 200);
  assert.equal(again.body.unchanged, true);
  assert.equal(again.body.replaced, false);
  assert.equal(storage.puts.length, 1, "nothing written the second time");

  const other = samplePng(4, 40, 30);
  await assert.rejects(
    uploader.upload({ key: "4.png", bytes: other, replace: false }),
    (error: AppError) => error.code === "already_exists" && /replace=true/.test(error.message),
  );
  assert.equal(storage.puts.length, 1);
  const replaced = await uploader.upload({ key: "4.png", bytes: other, replace: true });
  assert.equal(replaced.status, 201);
  assert.equal(replaced.body.replaced, true);
  assert.deepEqual(storage.objects.get("4.png")?.bytes, other);
});

Deno.test("uploader writes nothing for a refused file", async () => {
  const storage = fakeStorage();
  const index = flakyIndex(0);
  const uploader = createImageUploader({ storage, index, settings });
  for (
    const [key, bytes, code] of [
      ["5.jpg", PNG, "content_mismatch"],
      ["5.png", PNG.subarray(0, 100), "corrupt_image"],
      ["5.png", new TextEncoder().encode("<svg><script/></svg>"), "unsupported_media_type"],
    ] as const
  ) {
    await assert.rejects(
      uploader.upload({ key, bytes, replace: true }),
      (error: AppError) => error instanceof AppError && error.code === code,
    );
  }
  assert.equal(storage.puts.length, 0);
  assert.equal(index.calls, 0);
});

Deno.test("uploadSettings() reads ALLOWED_IMAGE_TYPES as names or MIME types", () => {
  const base = { AWS_ACCESS_KEY: "k", AWS_SECRET_ACCESS_KEY: "s", S3_BUCKET: "bucket" };
  const read = (types: string) =>
    uploadSettings(
      parseConfig({ ...base, SUPABASE_DB_URL: "x", ALLOWED_IMAGE_TYPES: types }),
    ).allowed;
  assert.deepEqual(read("jpg, image/PNG,webp"), ["jpeg", "png", "webp"]);
  assert.throws(() => read("jpeg,svg"), /"svg" is not one of/);
});

Deno.test("uploader: replace=true over a different image looks it up once, then overwrites", async () => {
  const storage = fakeStorage();
  const uploader = createImageUploader({ storage, index: flakyIndex(0), settings });
  await uploader.upload({ key: "5.png", bytes: PNG, replace: false });
  const other = samplePng(5, 40, 30);
  const replaced = await uploader.upload({ key: "5.png", bytes: other, replace: true });
  assert.equal(replaced.body.replaced, true);
  assert.deepEqual(
    storage.heads,
    ["5.png"],
    "looked up only after the create-only write was refused",
  );
  assert.deepEqual(storage.puts, ["5.png", "5.png"]);
  assert.deepEqual(storage.objects.get("5.png")?.bytes, other);
});

Deno.test("uploader: a new name under replace=true is a plain create, not a replacement", async () => {
  const storage = fakeStorage();
  const uploader = createImageUploader({ storage, index: flakyIndex(0), settings });
  const { status, body } = await uploader.upload({ key: "6.png", bytes: PNG, replace: true });
  assert.equal(status, 201);
  assert.equal(body.replaced, false);
  assert.deepEqual(storage.heads, []);
});

Deno.test("uploader: with S3_CONDITIONAL_WRITES=false it looks the name up before writing", async () => {
  const storage = fakeStorage();
  const uploader = createImageUploader({
    storage,
    index: flakyIndex(0),
    settings: lookupFirst,
  });
  await uploader.upload({ key: "7.png", bytes: PNG, replace: false });
  assert.deepEqual(storage.heads, ["7.png"]);
  await assert.rejects(
    uploader.upload({ key: "7.png", bytes: samplePng(7, 40, 30), replace: false }),
    (error: AppError) => error.code === "already_exists",
  );
  assert.equal(storage.puts.length, 1, "the lookup refused it before any write");
});

Deno.test("uploader: replace=true with the same bytes writes again (201, replaced)", async () => {
  const storage = fakeStorage();
  const uploader = createImageUploader({ storage, index: flakyIndex(0), settings });
  await uploader.upload({ key: "8.png", bytes: PNG, replace: false });
  const again = await uploader.upload({ key: "8.png", bytes: PNG, replace: true });
  assert.equal(again.status, 201);
  assert.equal(again.body.replaced, true);
  assert.equal(storage.puts.length, 2);
});
