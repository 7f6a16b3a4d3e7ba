import assert from "node:assert/strict";
import type { AppError } from "../errors.ts";
import { readFilenameCorpus } from "../../../../tests/corpus/filenames.ts";
import { renderUnicodeSql, UNICODE_SQL_URL } from "../../../../tests/corpus/unicode_sql.ts";
import {
  contentTypeForName,
  filenameProblem,
  imageKey,
  isMixedScript,
  normalizeFilename,
  quoteName,
  scriptOf,
  UNPAIRED_SURROGATE_PROBLEM,
  withExtension,
} from "./names.ts";

Deno.test("filenameProblem() accepts product image names in any extension case", () => {
  for (const name of ["14000.jpg", "14000.JPG", "a.jpeg", "b.png", "c.webp", "d.gif", "e.avif"]) {
    assert.equal(filenameProblem(name), undefined, name);
  }
});

Deno.test("filenameProblem() refuses path parts, control characters and non-images", () => {
  assert.equal(filenameProblem(""), "the name is empty");
  assert.equal(filenameProblem("a/../b.jpg"), "path segments are not allowed");
  assert.equal(filenameProblem("a\\b.jpg"), "path segments are not allowed");
  assert.equal(filenameProblem("a\tb.jpg"), "control characters are not allowed");
  assert.equal(filenameProblem("a\u0000b.jpg"), "control characters are not allowed");
  assert.equal(filenameProblem(" a.jpg"), "leading or trailing spaces are not allowed");
  assert.equal(
    filenameProblem("drawing.svg"),
    "only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed",
  );
  assert.equal(filenameProblem(`${"x".repeat(252)}.jpg`), "the name is longer than 255 bytes");
});

Deno.test("contentTypeForName() and quoteName() follow the name", () => {
  assert.equal(contentTypeForName("A.JPEG"), "image/jpeg");
  assert.equal(contentTypeForName("a.txt"), undefined);
  assert.equal(quoteName("x".repeat(300)), `${"x".repeat(40)}…`);
  assert.equal(quoteName("14000.jpg"), "14000.jpg");
});

Deno.test("imageKey() lower-cases the extension and keeps the rest", () => {
  assert.equal(imageKey("14000.JPG"), "14000.jpg");
  assert.equal(imageKey("Shoe-Red.Jpeg"), "Shoe-Red.jpeg");
});

Deno.test("imageKey() normalises to Unicode NFC", () => {
  const decomposed = "cafe\u0301.png";
  assert.equal(imageKey(decomposed), "caf\u00e9.png");
});

Deno.test("imageKey() refuses names the SQL API refuses, with its words", () => {
  const cases: Record<string, RegExp> = {
    "../x.jpg": /Cannot upload "\.\.\/x\.jpg": path segments are not allowed/,
    "a/b.jpg": /path segments are not allowed/,
    "a\\b.jpg": /path segments are not allowed/,
    "": /Cannot upload the file: the name is empty/,
    "x.svg": /only \.jpg/,
    "x": /only \.jpg/,
    " x.jpg": /leading or trailing spaces/,
    "a\u0007.jpg": /control characters/,
    [`${"a".repeat(252)}.jpg`]: /longer than 255 bytes/,
  };
  for (const [name, message] of Object.entries(cases)) {
    assert.throws(
      () => imageKey(name),
      (error: AppError) => error.code === "invalid_filename" && message.test(error.message),
      JSON.stringify(name),
    );
  }
});

Deno.test("withExtension() swaps the extension", () => {
  assert.equal(withExtension("14000.jpg", "png"), "14000.png");
  assert.equal(withExtension("a.b.jpeg", "webp"), "a.b.webp");
});

Deno.test("filenameProblem() and normalizeFilename() give every corpus name the verdict SQL gives", async () => {
  const { cases, messages } = await readFilenameCorpus();
  for (const { line, rawInput, input, verdict, normalized } of cases) {
    const where = `filenames.tsv line ${line}: ${rawInput}`;
    assert.equal(filenameProblem(input), verdict === "ok" ? undefined : messages[verdict], where);
    assert.equal(normalizeFilename(input), normalized, where);
  }
});

Deno.test("filenameProblem() refuses invisible characters and mixed scripts, and passes real product names", () => {
  for (
    const name of [
      "a\u00adb.jpg",
      "a\u2028b.jpg",
      "a\u{e0041}.jpg",
      "a\u034f.jpg",
      "a\ufe0f.jpg",
      "\u3164.jpg",
    ]
  ) {
    assert.equal(
      filenameProblem(name),
      "invisible characters are not allowed",
      JSON.stringify(name),
    );
  }
  assert.equal(
    filenameProblem("p\u0430ck.png"),
    "letters from different scripts must not be mixed",
  );
  for (
    const name of [
      "Crème brûlée.jpg",
      "προϊόν.jpg",
      "товар.jpg",
      "日本のカメラー.jpg",
      "iPhone 保护壳.png",
      "Galaxy 한국.webp",
    ]
  ) {
    assert.equal(filenameProblem(name), undefined, name);
  }
  assert.equal(filenameProblem("\ud800.jpg"), UNPAIRED_SURROGATE_PROBLEM);
  assert.throws(
    () => imageKey("\ud800.jpg"),
    (error: AppError) => error.code === "invalid_filename",
  );
});

Deno.test("scriptOf() names a character's script, and none for Common and Inherited", () => {
  assert.equal(scriptOf("a"), "Latn");
  assert.equal(scriptOf("\u0430"), "Cyrl");
  assert.equal(scriptOf("1"), undefined);
  assert.equal(scriptOf("\u0301"), undefined);
  assert.equal(isMixedScript("漢字かなカナ abc"), false);
  assert.equal(isMixedScript("한글かな"), true);
});

Deno.test("the SQL migration's Unicode tables are generated from these rules' patterns (not stale)", async () => {
  const current = await Deno.readTextFile(UNICODE_SQL_URL);
  assert.ok(current === renderUnicodeSql(), "regenerate: deno run -A tests/corpus/unicode_sql.ts");
});
