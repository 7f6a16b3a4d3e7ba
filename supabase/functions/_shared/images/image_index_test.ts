import assert from "node:assert/strict";
import type { Sql } from "../platform/db.ts";
import { AppError } from "../errors.ts";
import { createImageIndex } from "./image_index.ts";

/**
 * A postgres.js stand-in answering each statement with the next scripted reply (an error is
 * thrown); records the SQL text and the bound values.
 */
function scriptedSql(...replies: unknown[]) {
  const calls: Array<{ text: string; values: unknown[] }> = [];
  const sql = (strings: TemplateStringsArray, ...values: unknown[]) => {
    calls.push({ text: strings.join("$"), values });
    const reply = replies.shift();
    return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
  };
  return { sql: sql as unknown as Sql, calls };
}

const connectionReset = () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });

Deno.test("ImageIndex.add() passes every metadata field to add_file_to_s3_cache", async () => {
  const { sql, calls } = scriptedSql([{ result: "SUCCESS" }]);
  const modified = new Date(1_700_000_000_000);
  await createImageIndex(sql).add("1.jpg", {
    sizeBytes: 10,
    etag: "e",
    contentType: "image/jpeg",
    lastModified: modified,
    width: 4,
    height: 3,
  });
  assert.match(calls[0].text, /public\.add_file_to_s3_cache\(/);
  assert.deepEqual(calls[0].values, ["1.jpg", 10, "e", "image/jpeg", modified, 4, 3]);
});

Deno.test("ImageIndex.add() turns the SQL API's refusal into a 400 with its message", async () => {
  const message = 'Cannot add file "a/b.jpg": path segments are not allowed';
  const { sql } = scriptedSql([{ result: message }]);
  await assert.rejects(
    createImageIndex(sql).add("a/b.jpg"),
    (error: AppError) =>
      error.status === 400 && error.code === "invalid_filename" && error.message === message,
  );
});

Deno.test("ImageIndex retries a dropped connection and then answers normally", async () => {
  const { sql, calls } = scriptedSql(connectionReset(), [{ stats: { files: 3 } }]);
  assert.deepEqual(await createImageIndex(sql).stats(), { files: 3 });
  assert.equal(calls.length, 2);
});

Deno.test("ImageIndex does not repeat a statement the database refused for another reason", async () => {
  const refused = Object.assign(new Error("permission denied"), { code: "42501" });
  const { sql, calls } = scriptedSql(refused, [{ stats: {} }]);
  await assert.rejects(createImageIndex(sql).stats(), (error) => error === refused);
  assert.equal(calls.length, 1);
});

Deno.test("ImageIndex.remove() returns the removed row's name, null when absent, 400 for a bad name", async () => {
  const { sql } = scriptedSql(
    [{ removed: "a.PNG", problem: null, message: null }],
    // Worded in any way: only whether the name had a problem decides.
    [{ removed: null, problem: null, message: 'Cannot remove file "9.jpg": nothing by that name' }],
    [{
      removed: null,
      problem: "path segments are not allowed",
      message: 'Cannot remove file "../9.jpg": path segments are not allowed',
    }],
  );
  const index = createImageIndex(sql);
  assert.equal(await index.remove("a.PNG"), "a.PNG");
  assert.equal(await index.remove("9.jpg"), null);
  await assert.rejects(
    index.remove("../9.jpg"),
    (error: AppError) => error.status === 400 && /path segments/.test(error.message),
  );
});

Deno.test("ImageIndex.get(), lookup() and search() return the SQL API's rows", async () => {
  const row = { filename: "1.jpg", size_bytes: 1 };
  const { sql, calls } = scriptedSql([row], [], [row, row], [row]);
  const index = createImageIndex(sql);
  assert.deepEqual(await index.get("1.jpg"), row);
  assert.equal(await index.get("2.jpg"), null);
  assert.equal((await index.lookup(["1.jpg", "x.jpg"])).length, 2);
  assert.deepEqual(calls[2].values, [["1.jpg", "x.jpg"]]);
  await index.search({ prefix: "1", after: "0.jpg", pageSize: 5 });
  assert.deepEqual(calls[3].values, ["1", "0.jpg", 5]);
  assert.match(calls[3].text, /public\.search_s3_cache\(/);
});

Deno.test("ImageIndex.search() defaults: whole index from the start, 100 a page", async () => {
  const { sql, calls } = scriptedSql([]);
  await createImageIndex(sql).search({});
  assert.deepEqual(calls[0].values, ["", null, 100]);
});
