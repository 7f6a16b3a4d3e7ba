/**
 * Hostile names (`tests/hostile/names.tsv`) through every door a name enters by: the multipart
 * upload, the direct upload, `POST /files` and `DELETE /files/:name` of s3-image-service, and the
 * SQL API as the service role. A refused name gets `400 invalid_filename` with the SQL API's
 * reason everywhere and writes nothing; an accepted one is stored under exactly its NFC form
 * (never decoded, resolved or split) and can be removed again by the same name.
 */
import assert from "node:assert/strict";
import { readFilenameCorpus } from "../corpus/filenames.ts";
import { readTable } from "../hostile/table.ts";
import { bucketKeys } from "../support/bucket.ts";
import { fixture } from "../support/bytes.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { testStorage } from "../support/s3.ts";
import { callFunction, stackInfo } from "../support/stack.ts";

const P = `hn${crypto.randomUUID().slice(0, 6)}-`;
const JPEG = fixture("product.jpg");
const { messages } = await readFilenameCorpus();
const rows = await readTable("names.tsv");

/** The name with `{P}` and `{REPEAT:text:n}` expanded. */
function expand(template: string): string {
  return template
    .replace(/\{REPEAT:([^:]+):(\d+)\}/g, (_, unit: string, n: string) => unit.repeat(Number(n)))
    .replaceAll("{P}", P);
}

/** The stored form, computed here independently of the code under test: NFC, lower-case extension. */
function storedForm(name: string): string {
  const nfc = name.normalize("NFC");
  const dot = nfc.lastIndexOf(".");
  return nfc.slice(0, dot) + nfc.slice(dot).toLowerCase();
}

const errorOf = (body: Record<string, unknown>) =>
  body.error as { code?: string; message?: string };

function upload(name: string) {
  const form = new FormData();
  form.set("file", new File([JPEG as Uint8Array<ArrayBuffer>], "x.jpg"));
  form.set("filename", name);
  return callFunction("upload-to-s3", {
    method: "POST",
    token: stackInfo().MANAGER_TOKEN,
    body: form,
  });
}

function json(path: string, body: unknown, token = stackInfo().ADMIN_TOKEN) {
  return callFunction(path, {
    method: "POST",
    token,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const remove = (name: string, deleteObject = false) =>
  callFunction(
    `s3-image-service/files/${encodeURIComponent(name)}${deleteObject ? "?deleteObject=true" : ""}`,
    { method: "DELETE", token: stackInfo().ADMIN_TOKEN },
  );

/** The SQL API as the service role, in a transaction of its own. */
async function asServiceRole<T>(work: (sql: ReturnType<typeof testDb>) => Promise<T>): Promise<T> {
  let result: T;
  await testDb().begin(async (tx) => {
    await tx`set local role service_role`;
    result = await work(tx as unknown as ReturnType<typeof testDb>);
  });
  return result!;
}

/** Everything a refused name could have left: objects and rows mentioning the run's prefix. */
async function traces() {
  const [{ rows, touched }] = await testDb()`
    select count(*)::int as rows, coalesce(max(updated_at)::text, '') as touched
    from public.s3_image_cache`;
  const mine = await testDb()`
    select filename from public.s3_image_cache where strpos(filename, ${P}) > 0`;
  const objects = (await bucketKeys()).filter((key) => key.includes(P));
  return { rows, touched, mine: mine.map((r) => r.filename as string), objects };
}

const totalObjects = (await bucketKeys()).length;

for (const row of rows) {
  const name = expand(row.name);
  if (row.verdict === "literal") {
    Deno.test({
      name: `hostile name "${row.case}" is stored literally and removed by the same name`,
      ignore: row.pending !== "-",
      fn: () => literalCase(name),
    });
    continue;
  }
  Deno.test({
    name: `hostile name "${row.case}" is refused (${row.verdict}) everywhere and writes nothing`,
    ignore: row.pending !== "-",
    fn: () => refusedCase(name, row.verdict, row.line),
  });
}

async function literalCase(name: string) {
  const key = storedForm(name);
  const before = await traces();
  try {
    const uploaded = await upload(name);
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
    assert.equal(uploaded.body.key, key);
    assert.deepEqual(await bucketKeys(key), [key], "exactly this key, nothing decoded");
    assert.deepEqual(
      (await traces()).objects,
      [...before.objects, key].sort(),
      "and no other object",
    );

    const added = await json("s3-image-service/files", { filename: name });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal((added.body.file as { filename: string }).filename, key);

    const removed = await remove(name, true);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual([removed.body.removed, removed.body.objectDeleted], [true, true]);
    assert.deepEqual(await traces().then((t) => [t.mine, t.objects]), [[], []]);

    const prepared = await json("upload-to-s3/direct", {
      filename: name,
      contentType: "image/jpeg",
      size: JPEG.length,
    }, stackInfo().MANAGER_TOKEN);
    assert.equal(prepared.status, 200, JSON.stringify(prepared.body));
    assert.equal(prepared.body.key, key);

    await asServiceRole(async (sql) => {
      const [{ answer }] = await sql`select public.add_file_to_s3_cache(${name}) as answer`;
      assert.equal(answer, "SUCCESS");
      const found = await sql`select filename from public.lookup_s3_cache(${[key]}::text[])`;
      assert.deepEqual(found.map((r) => r.filename), [key]);
      const [{ gone }] = await sql`select public.remove_file_from_s3_cache(${name}) as gone`;
      assert.equal(gone, "SUCCESS");
    });
    const [{ tables }] = await testDb()`
        select count(*)::int as tables from pg_catalog.pg_tables
        where schemaname = 'public' and tablename = 's3_image_cache'`;
    assert.equal(tables, 1, "the table is still there");
    assert.deepEqual((await traces()).mine, before.mine);
  } finally {
    await testStorage().delete(key);
    await testDb()`delete from public.s3_image_cache where filename = ${key}`;
    await closeTestDb();
  }
}

async function refusedCase(name: string, verdict: string, line: string) {
  const hasNul = name.includes("\u0000");
  const reason = messages[verdict];
  assert.ok(reason, `names.tsv line ${line}: unknown verdict ${verdict}`);
  const before = await traces();
  const answers = {
    upload: await upload(name),
    direct: await json("upload-to-s3/direct", {
      filename: name,
      contentType: "image/jpeg",
      size: JPEG.length,
    }, stackInfo().MANAGER_TOKEN),
    add: await json("s3-image-service/files", { filename: name }),
    forceAdd: await json("s3-image-service/files", { filename: name, force: true }),
    remove: await remove(name, true),
  };
  for (const [door, answer] of Object.entries(answers)) {
    assert.equal(answer.status, 400, `${door}: ${JSON.stringify(answer.body)}`);
    assert.equal(errorOf(answer.body).code, "invalid_filename", door);
    assert.ok(
      errorOf(answer.body).message?.endsWith(reason),
      `${door}: ${errorOf(answer.body).message}`,
    );
  }
  if (!hasNul) {
    await asServiceRole(async (sql) => {
      const [{ answer }] = await sql`select public.add_file_to_s3_cache(${name}) as answer`;
      assert.ok(String(answer).endsWith(reason), `SQL: ${answer}`);
      const [{ gone }] = await sql`select public.remove_file_from_s3_cache(${name}) as gone`;
      assert.ok(String(gone).endsWith(reason), `SQL remove: ${gone}`);
    });
  }
  assert.deepEqual(await traces(), before, "nothing written");
  await closeTestDb();
}

Deno.test("hostile names: the bucket holds as many objects as before", async () => {
  assert.equal((await bucketKeys()).length, totalObjects);
  await closeTestDb();
});

Deno.test("hostile SQL API: one bad name in a bulk add adds none; LIKE wildcards in a prefix are literal; oversize calls refused", async () => {
  const sqlError =
    (code: string, message?: RegExp) => (error: { code?: string; message?: string }) =>
      error.code === code && (!message || message.test(error.message ?? ""));
  const good = [`${P}bulk-ok.jpg`, `${P}'; drop table s3_image_cache; --.jpg`];
  await assert.rejects(
    asServiceRole((sql) =>
      sql`select public.add_files_to_s3_cache(${[...good, `../${P}x.jpg`]}::text[])`
    ),
    sqlError("22023", /^Cannot add file "\.\.\/hn[^"]+": path segments are not allowed$/),
  );
  assert.deepEqual((await traces()).mine, [], "all or nothing: no name of the batch was added");

  const names = [`${P}%b.jpg`, `${P}_c.jpg`, `${P}ab.jpg`, `${P}xc.jpg`];
  try {
    await asServiceRole(async (sql) => {
      const [{ n }] = await sql`select public.add_files_to_s3_cache(${names}::text[]) as n`;
      assert.equal(n, names.length);
    });
    const search = (prefix: string) =>
      asServiceRole(async (sql) =>
        (await sql`select filename from public.search_s3_cache(${prefix})`).map((r) => r.filename)
      );
    assert.deepEqual(await search(`${P}%`), [`${P}%b.jpg`], "% is literal");
    assert.deepEqual(await search(`${P}_`), [`${P}_c.jpg`], "_ is literal");
    assert.deepEqual(await search(`${P}\\`), [], "a backslash escapes nothing");
    await assert.rejects(
      asServiceRole((sql) =>
        sql`select * from public.lookup_s3_cache(${Array(1001).fill(`${P}ab.jpg`)}::text[])`
      ),
      sqlError("22023", /more than 1000 names at once: got 1001/),
    );
    await assert.rejects(
      asServiceRole((sql) => sql`select * from public.search_s3_cache(${P}, null, 0)`),
      sqlError("22023"),
    );
  } finally {
    await testDb()`delete from public.s3_image_cache where starts_with(filename, ${P})`;
  }
  const [{ tables }] = await testDb()`
    select count(*)::int as tables from pg_catalog.pg_tables
    where schemaname = 'public' and tablename = 's3_image_cache'`;
  assert.equal(tables, 1);
  await closeTestDb();
});
