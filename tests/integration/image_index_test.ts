import assert from "node:assert/strict";
import { createDb } from "../../supabase/functions/_shared/platform/db.ts";
import { createImageIndex } from "../../supabase/functions/_shared/images/image_index.ts";
import { stackInfo } from "../support/stack.ts";

Deno.test("image index: add with metadata, look up, search by prefix, remove", async () => {
  const sql = createDb(stackInfo().DB_URL);
  const index = createImageIndex(sql);
  const prefix = `idx-${crypto.randomUUID().slice(0, 8)}-`;
  try {
    const lastModified = new Date("2026-01-02T03:04:05Z");
    await index.add(`${prefix}1.jpg`, {
      sizeBytes: 1234,
      etag: "abc",
      contentType: "image/jpeg",
      lastModified,
      width: 640,
      height: 480,
    });
    await index.add(`${prefix}2.png`);
    const entry = await index.get(`${prefix}1.jpg`);
    assert.ok(entry);
    assert.equal(entry.size_bytes, 1234);
    assert.equal(entry.width, 640);
    assert.equal(entry.last_modified?.toISOString(), lastModified.toISOString());
    assert.equal((await index.get(`${prefix}2.png`))?.content_type, "image/png");
    assert.deepEqual((await index.search({ prefix })).map((e) => e.filename), [
      `${prefix}1.jpg`,
      `${prefix}2.png`,
    ]);
    assert.deepEqual(
      (await index.search({ prefix, after: `${prefix}1.jpg` })).map((e) => e.filename),
      [`${prefix}2.png`],
    );
    await assert.rejects(index.add("../x.jpg"), /path segments are not allowed/);
    // remove() answers the exact name of the row it removed (the stored form here), else null.
    assert.equal(await index.remove(`${prefix}1.JPG`), `${prefix}1.jpg`);
    assert.equal(await index.remove(`${prefix}1.jpg`), null);
    assert.equal(await index.get(`${prefix}1.jpg`), null);
    assert.equal(typeof (await index.stats()).count, "number");
  } finally {
    await index.remove(`${prefix}2.png`).catch(() => {});
    await sql.end({ timeout: 5 });
  }
});
