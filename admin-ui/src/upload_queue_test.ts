import assert from "node:assert/strict";
import { errorFromBody } from "./api.ts";
import { declaredType, describeResult } from "./upload_queue.ts";

Deno.test("describeResult() says stored, replaced or unchanged, with the key as sent back", () => {
  const base = { key: "14000.jpg", size: 10, contentType: "image/jpeg", width: 800, height: 600 };
  assert.equal(describeResult(base), 'Stored as "14000.jpg" (800×600, image/jpeg).');
  assert.match(describeResult({ ...base, replaced: true }), /^Replaced "14000\.jpg"/);
  assert.match(describeResult({ ...base, unchanged: true }), /^Already stored with identical/);
});

Deno.test("declaredType() prefers the browser's type and falls back to the extension", () => {
  assert.equal(declaredType(new File([], "a.jpg", { type: "image/png" }), "a.jpg"), "image/png");
  assert.equal(declaredType(new File([], "a"), "14000.JPEG"), "image/jpeg");
  assert.equal(declaredType(new File([], "a"), "notes.txt"), "application/octet-stream");
});

Deno.test("errorFromBody() keeps the function's code and sentence", () => {
  const error = errorFromBody(409, {
    error: { code: "already_exists", message: 'An image named "a.jpg" exists' },
  });
  assert.equal(error.status, 409);
  assert.equal(error.code, "already_exists");
  assert.equal(error.message, 'An image named "a.jpg" exists');
  assert.match(errorFromBody(502, "<html>").message, /answered 502/);
});
