import assert from "node:assert/strict";
import type { AppError } from "../http/errors.ts";
import { imageKey, withExtension } from "./image_key.ts";

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
    [`${"a".repeat(252)}.jpg`]: /longer than 255/,
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
