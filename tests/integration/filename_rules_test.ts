import assert from "node:assert/strict";
import { IMAGE_EXTENSIONS } from "../../supabase/functions/_shared/images/formats.ts";
import { filenameProblem } from "../../supabase/functions/_shared/images/names.ts";
import { closeTestDb, testDb } from "../support/db.ts";

const NAMES = [
  "14000.jpg",
  "14000.JPG",
  "photo.jpeg",
  "a.png",
  "a.webp",
  "a.gif",
  "a.avif",
  "",
  "x".repeat(252) + ".jpg",
  "x".repeat(251) + ".jpg",
  "a/b.jpg",
  "a\\b.jpg",
  "../14000.jpg",
  "..jpg",
  "a\nb.jpg",
  "a\u007fb.jpg",
  " 14000.jpg",
  "14000.jpg ",
  "notes.txt",
  "image.svg",
  "noextension",
  "produit-été.jpg",
];

// NUL cannot reach SQL at all (Postgres text refuses it); filename_test.ts covers it in TS.
Deno.test("filenameProblem() agrees with SQL s3_cache_filename_problem() on every rule", async () => {
  const sql = testDb();
  try {
    for (const name of NAMES) {
      const [{ problem }] = await sql`select public.s3_cache_filename_problem(${name}) as problem`;
      assert.equal(filenameProblem(name), problem ?? undefined, JSON.stringify(name));
    }
  } finally {
    await closeTestDb();
  }
});

Deno.test("SQL s3_cache_content_type_for() implies the content type of TypeScript's format table", async () => {
  const sql = testDb();
  try {
    const probes = [
      ...Object.keys(IMAGE_EXTENSIONS).flatMap((
        extension,
      ) => [`a.${extension}`, `A.${extension.toUpperCase()}`]),
      "a.svg",
      "a.txt",
      "noextension",
    ];
    for (const name of probes) {
      const [{ type }] = await sql`select public.s3_cache_content_type_for(${name}) as type`;
      const extension = name.includes(".")
        ? name.slice(name.lastIndexOf(".") + 1).toLowerCase()
        : "";
      assert.equal(type ?? undefined, IMAGE_EXTENSIONS[extension], name);
    }
  } finally {
    await closeTestDb();
  }
});
