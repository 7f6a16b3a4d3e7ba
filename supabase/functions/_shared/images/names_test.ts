import assert from "node:assert/strict";
import { contentTypeForName, filenameProblem, quoteName } from "./names.ts";

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
  assert.equal(filenameProblem(`${"x".repeat(252)}.jpg`), "the name is longer than 255 characters");
});

Deno.test("contentTypeForName() and quoteName() follow the name", () => {
  assert.equal(contentTypeForName("A.JPEG"), "image/jpeg");
  assert.equal(contentTypeForName("a.txt"), undefined);
  assert.equal(quoteName("x".repeat(300)), `${"x".repeat(40)}…`);
  assert.equal(quoteName("14000.jpg"), "14000.jpg");
});
