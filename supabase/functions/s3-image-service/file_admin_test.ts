import assert from "node:assert/strict";
import { AppError } from "../_shared/errors.ts";
import { createFileAdmin } from "./file_admin.ts";
import { normalizeFilename } from "../_shared/images/names.ts";
import type { EntryMetadata, ImageIndex, IndexEntry } from "../_shared/images/image_index.ts";
import type { StoredObject } from "../_shared/platform/storage.ts";

function fakes(objects: Record<string, Partial<StoredObject>> = {}) {
  const rows = new Map<string, IndexEntry>();
  const log: string[] = [];
  const index: ImageIndex = {
    add(filename: string, m: EntryMetadata = {}) {
      log.push(`index.add ${filename}`);
      rows.set(filename, {
        filename,
        size_bytes: m.sizeBytes ?? null,
        etag: m.etag ?? null,
        content_type: m.contentType ?? "image/from-extension",
        last_modified: m.lastModified ?? null,
        width: null,
        height: null,
        updated_at: new Date(),
      });
      return Promise.resolve();
    },
    // As the SQL API: the row named exactly so, else the one under the stored form.
    remove(filename: string) {
      log.push(`index.remove ${filename}`);
      const key = rows.has(filename) ? filename : normalizeFilename(filename);
      return Promise.resolve(key !== undefined && rows.delete(key) ? key : null);
    },
    get: (filename: string) =>
      Promise.resolve(rows.get(filename) ?? rows.get(normalizeFilename(filename) ?? "") ?? null),
    lookup: () => Promise.resolve([]),
    search({ prefix = "", after, pageSize = 100 }) {
      const names = [...rows.keys()].filter((n) => n.startsWith(prefix) && (!after || n > after))
        .sort().slice(0, pageSize);
      return Promise.resolve(names.map((n) => rows.get(n)!));
    },
    stats: () => Promise.resolve({}),
  };
  const storage = {
    deleteFails: false,
    head(key: string) {
      log.push(`s3.head ${key}`);
      const o = objects[key];
      return Promise.resolve(
        o ? { key, size: 1, etag: "e", lastModified: new Date(0), ...o } as StoredObject : null,
      );
    },
    delete(key: string) {
      log.push(`s3.delete ${key}`);
      if (this.deleteFails) return Promise.reject(new Error("S3 down"));
      delete objects[key];
      return Promise.resolve();
    },
    signedGetUrl: (key: string, seconds: number) =>
      Promise.resolve(`https://signed/${key}?expires=${seconds}`),
  };
  return { rows, log, index, storage };
}

const status = (code: string) => (error: AppError) => error.code === code;

Deno.test("FileAdmin.add() indexes a bucket object with its S3 metadata", async () => {
  const lastModified = new Date("2026-05-01T00:00:00Z");
  const { index, storage, rows } = fakes({
    "1.jpg": { size: 42, etag: "abc", contentType: "image/jpeg", lastModified },
  });
  const files = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  const { file, checked } = await files.add("1.jpg");
  assert.equal(checked, true);
  assert.equal(file.size_bytes, 42);
  assert.equal(file.etag, "abc");
  assert.equal(file.content_type, "image/jpeg");
  assert.equal(rows.get("1.jpg")?.last_modified, lastModified);
});

Deno.test("FileAdmin.add() refuses a name the bucket does not hold unless forced", async () => {
  const { index, storage, rows } = fakes();
  const files = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  await assert.rejects(files.add("2.jpg"), status("not_in_bucket"));
  assert.equal(rows.size, 0, "no phantom entry");
  const { checked } = await files.add("2.jpg", { force: true });
  assert.equal(checked, false);
  assert.ok(rows.has("2.jpg"));
});

Deno.test("FileAdmin.add() ignores a non-image Content-Type from S3 and rejects bad names first", async () => {
  const { index, storage, log } = fakes({ "3.png": { contentType: "application/octet-stream" } });
  const files = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  assert.equal((await files.add("3.png")).file.content_type, "image/from-extension");
  await assert.rejects(files.add("a/../b.jpg"), (error: AppError) => {
    assert.equal(error.message, 'Cannot add file "a/../b.jpg": path segments are not allowed');
    return true;
  });
  assert.ok(!log.includes("s3.head a/../b.jpg"));
});

Deno.test("FileAdmin.remove() drops the index entry before the object, so no phantom entry remains", async () => {
  const { index, storage, rows, log } = fakes({ "4.jpg": {} });
  const files = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  await files.add("4.jpg");
  storage.deleteFails = true;
  await assert.rejects(files.remove("4.jpg", { deleteObject: true }));
  assert.equal(rows.has("4.jpg"), false);
  assert.ok(log.indexOf("index.remove 4.jpg") < log.indexOf("s3.delete 4.jpg"));
  storage.deleteFails = false;
  // Retrying finishes the job: the entry is gone, the object goes now.
  assert.deepEqual(await files.remove("4.jpg", { deleteObject: true }), {
    filename: "4.jpg",
    removed: false,
    objectDeleted: true,
  });
  await assert.rejects(files.remove("4.jpg", { deleteObject: true }), status("not_found"));
  await assert.rejects(files.remove("4.jpg"), status("not_found"));
});

Deno.test("FileAdmin.list() pages by cursor in byte order with signed or public preview URLs", async () => {
  const { index, storage } = fakes();
  for (const name of ["b-2.jpg", "b-1.jpg", "a.jpg", "b-3 x.jpg"]) await index.add(name);
  const signed = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  const first = await signed.list({ prefix: "b-", limit: 2 });
  assert.deepEqual(first.files.map((f) => f.filename), ["b-1.jpg", "b-2.jpg"]);
  assert.equal(first.files[0].url, "https://signed/b-1.jpg?expires=300");
  assert.equal(first.nextCursor, "b-2.jpg");
  const second = await signed.list({ prefix: "b-", cursor: first.nextCursor!, limit: 2 });
  assert.deepEqual(second.files.map((f) => f.filename), ["b-3 x.jpg"]);
  assert.equal(second.nextCursor, null);

  const cdn = createFileAdmin({
    index,
    storage,
    signedUrlSeconds: 300,
    publicBaseUrl: "https://cdn.example.com/img",
  });
  const page = await cdn.list({ prefix: "b-3", limit: 5 });
  assert.equal(page.files[0].url, "https://cdn.example.com/img/b-3%20x.jpg");
});

Deno.test("FileAdmin.remove() deletes the object of the row it removed, never a variant's", async () => {
  // The bucket holds a.png (uploaded) and a.PNG (put there by other means); a rebuild indexed both.
  const objects = { "a.png": {}, "a.PNG": {} };
  const { index, storage, rows } = fakes(objects);
  const files = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  await index.add("a.png");
  await index.add("a.PNG");
  assert.deepEqual(await files.remove("a.PNG", { deleteObject: true }), {
    filename: "a.PNG",
    removed: true,
    objectDeleted: true,
  });
  assert.deepEqual([...rows.keys()], ["a.png"]);
  assert.deepEqual(Object.keys(objects), ["a.png"]);
  // A name with no row of its own addresses the stored form's row and object.
  await index.add("b.png");
  Object.assign(objects, { "b.png": {} });
  assert.equal((await files.remove("b.PNG", { deleteObject: true })).removed, true);
  assert.deepEqual(Object.keys(objects), ["a.png"]);
});

Deno.test("FileAdmin.add() refreshes a row indexed under a variant exactly as stored", async () => {
  const { index, storage, log } = fakes({ "a.PNG": { size: 7 } });
  const files = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  await index.add("a.PNG");
  const { file } = await files.add("a.PNG");
  assert.equal(file.filename, "a.PNG");
  assert.equal(file.size_bytes, 7);
  assert.ok(log.includes("s3.head a.PNG"));
});

Deno.test("FileAdmin refuses a lone surrogate as a bad name, before any SQL", async () => {
  const { index, storage, log } = fakes();
  const files = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  for (const call of [() => files.add("\ud800.jpg"), () => files.remove("\ud800.jpg")]) {
    await assert.rejects(
      call(),
      (error: AppError) =>
        error.code === "invalid_filename" && /unpaired surrogate/.test(error.message),
    );
  }
  assert.deepEqual(log, []);
});

Deno.test("FileAdmin.remove() refuses U+0000 itself (Postgres text cannot hold it) and leaves other rules to SQL", async () => {
  const { index, storage, log } = fakes();
  const files = createFileAdmin({ index, storage, signedUrlSeconds: 300 });
  await assert.rejects(
    files.remove("a\u0000.jpg"),
    (error: AppError) =>
      error.code === "invalid_filename" && /control characters/.test(error.message),
  );
  assert.deepEqual(log, []);
  await files.remove("../x.jpg").catch(() => {});
  assert.deepEqual(log, ["index.remove ../x.jpg"], "the SQL API judges every other name");
});
