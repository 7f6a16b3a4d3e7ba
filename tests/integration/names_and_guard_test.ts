/**
 * Red-team findings 2, 5, 6 and 7 of issue 18, over HTTP against the real stack:
 * - a name is addressed the same way on every path (exactly as stored, else its stored form), and
 *   deleting an object deletes the one whose index row was removed, never a case variant's;
 * - the mass-removal guard counts removals across rebuilds, not one run at a time;
 * - a lone surrogate in a JSON name is a 400, never a 5xx; invisible characters and mixed
 *   scripts are refused at every door (the corpus cases run in hostile_names_test.ts).
 */
import assert from "node:assert/strict";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";
import {
  assertIndexEqualsBucket,
  deleteObjects,
  type Job,
  putObjects,
  rebuildToEnd,
  service,
  storage,
} from "./service_support.ts";
import { callFunction } from "../support/stack.ts";

const P = `nag${crypto.randomUUID().slice(0, 6)}-`;
const errorOf = (body: Record<string, unknown>) =>
  body.error as { code: string; message: string; details?: { job?: Job } };

const indexed = async (prefix: string) =>
  (await testDb()`select filename from public.s3_image_cache
    where starts_with(filename, ${prefix}) order by filename collate "C"`)
    .map((row) => row.filename as string);
const inBucket = async (keys: string[]) =>
  (await Promise.all(keys.map(async (key) => (await storage.head(key)) ? key : null)))
    .filter((key) => key !== null);

Deno.test("DELETE of a case variant removes that variant's row and object, and leaves the other", async () => {
  const lower = `${P}a.png`;
  const upper = `${P}a.PNG`;
  try {
    // a.png through the API, a.PNG put into the bucket by other means; a rebuild indexes both.
    await putObjects([lower]);
    const added = await service("/files", { body: { filename: lower } });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    await putObjects([upper]);
    await rebuildToEnd();
    assert.deepEqual(
      await indexed(P),
      [upper, lower],
      "a rebuild indexes each key as it is spelled",
    );

    const removed = await service(`/files/${encodeURIComponent(upper)}?deleteObject=true`, {
      method: "DELETE",
    });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual([removed.body.removed, removed.body.objectDeleted], [true, true]);
    assert.deepEqual(await indexed(P), [lower], "the row of a.PNG went, a.png stayed");
    assert.deepEqual(
      await inBucket([lower, upper]),
      [lower],
      "the object of a.PNG went, a.png stayed",
    );

    // The stored form addresses a.png when no row has the name as given.
    const viaStored = await service(`/files/${encodeURIComponent(`${P}a.Png`)}?deleteObject=true`, {
      method: "DELETE",
    });
    assert.equal(viaStored.status, 200, JSON.stringify(viaStored.body));
    assert.deepEqual(await indexed(P), []);
    assert.deepEqual(await inBucket([lower, upper]), []);
  } finally {
    await deleteObjects([lower, upper]);
    await testDb()`delete from public.s3_image_cache where starts_with(filename, ${P})`;
    await closeTestDb();
  }
});

Deno.test("POST /files refreshes a variant indexed as it is spelled, not its stored form", async () => {
  const upper = `${P}b.JPG`;
  try {
    await putObjects([upper]);
    await rebuildToEnd();
    const added = await service("/files", { body: { filename: upper } });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal((added.body.file as { filename: string }).filename, upper);
    assert.equal(added.body.checked, true, "checked against the object it names");
    assert.deepEqual(await indexed(P), [upper], "no second row under the stored form");
  } finally {
    await deleteObjects([upper]);
    await testDb()`delete from public.s3_image_cache where starts_with(filename, ${P})`;
    await closeTestDb();
  }
});

Deno.test("the guard holds removals stepped across rebuilds once the index falls below half of its recent largest size", async () => {
  const mine = Array.from({ length: 4 }, (_, i) => `${P}step-${i}.jpg`);
  try {
    await putObjects(mine);
    // A forced rebuild starts the window afresh: earlier tests' larger indexes no longer count.
    const reset = await service("/", { body: { force: true } });
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    const [{ size }] = await testDb()`select count(*)::int as size from public.s3_image_cache`;
    // Rows the bucket does not hold, as many as the index has: the next rebuild removes exactly
    // half of the index, which one run may do.
    const ghosts = Array.from({ length: size }, (_, i) => `${P}ghost-${i}.jpg`);
    await testDb()`select public.add_files_to_s3_cache(${ghosts}::text[])`;
    const first = await rebuildToEnd();
    assert.equal(first.removed, size, "exactly half: applied");

    // One more object gone: a small step on its own, but the index would end below half of the
    // 2 × size it held an hour ago.
    await deleteObjects([mine[0]]);
    const held = await service("/", { body: {} });
    assert.equal(held.status, 409, JSON.stringify(held.body));
    const error = errorOf(held.body);
    assert.equal(error.code, "needs_confirmation");
    const guard = error.details!.job!.summary!.guard! as unknown as Record<string, unknown>;
    assert.equal(guard.rule, "window");
    assert.equal(guard.window_largest, 2 * size);
    assert.equal(guard.index_after, size - 1);
    assert.equal(guard.would_remove, 1);
    assert.match(String(error.details!.job!.error), /fewer than half of the \d+ the index held at/);
    assert.ok((await indexed(P)).includes(mine[0]), "nothing was applied");

    const forced = await service("/", { body: { force: true } });
    assert.equal(forced.status, 200, JSON.stringify(forced.body));
    assert.equal((forced.body.job as Job).status, "succeeded");
    await assertIndexEqualsBucket();
  } finally {
    await deleteObjects(mine);
    const cleanup = await service("/", { body: { force: true } });
    assert.equal(cleanup.status, 200, JSON.stringify(cleanup.body));
    await closeTestDb();
  }
});

Deno.test("a lone surrogate in a JSON name is 400 invalid_filename at every JSON door", async () => {
  // JSON.stringify writes a lone surrogate as the escape \ud800, as a hostile client would.
  const answers = {
    add: await service("/files", { body: { filename: "\ud800.jpg" } }),
    forceAdd: await service("/files", { body: { filename: "a\udc00.jpg", force: true } }),
    direct: await callFunction("upload-to-s3/direct", {
      method: "POST",
      token: stackInfo().MANAGER_TOKEN,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ filename: "\ud800.jpg", contentType: "image/jpeg", size: 10 }),
    }),
  };
  for (const [door, answer] of Object.entries(answers)) {
    assert.equal(answer.status, 400, `${door}: ${JSON.stringify(answer.body)}`);
    assert.equal(errorOf(answer.body).code, "invalid_filename", door);
    assert.match(errorOf(answer.body).message, /unpaired surrogate/, door);
  }
});
