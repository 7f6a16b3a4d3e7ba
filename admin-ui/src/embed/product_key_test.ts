import assert from "node:assert/strict";
import { currentImage, DEFAULT_RULE, productKey } from "./product_key.ts";
import { needsNewSignature, versionedUrl } from "./image_url.ts";

const entry = (filename: string, updated_at: string) => ({
  filename,
  updated_at,
  size_bytes: 1,
  etag: null,
  content_type: null,
  last_modified: null,
  width: null,
  height: null,
});

Deno.test("productKey() takes the extension from the image type, or the fixed one", () => {
  assert.equal(productKey("14000", DEFAULT_RULE, "image/jpeg"), "14000.jpg");
  assert.equal(productKey("14000", DEFAULT_RULE, "image/png"), "14000.png");
  assert.equal(
    productKey("14000", { prefix: "shop-", extension: "webp" }, "image/png"),
    "shop-14000.webp",
  );
  // Not an image type: an image name, so the function judges the bytes in its own words.
  assert.equal(productKey("14000", DEFAULT_RULE, "image/svg+xml"), "14000.jpg");
});

Deno.test("currentImage() picks the product's own newest key, not a lookalike", () => {
  const entries = [
    entry("14000.old.jpg", "2026-12-03T00:00:00Z"),
    entry("14000.jpg", "2026-12-01T00:00:00Z"),
    entry("14000.png", "2026-12-02T00:00:00Z"),
  ];
  assert.equal(currentImage(entries, "14000", DEFAULT_RULE)?.filename, "14000.png");
  assert.equal(
    currentImage(entries, "14000", { prefix: "", extension: "jpg" })?.filename,
    "14000.jpg",
  );
  assert.equal(currentImage(entries, "1400", DEFAULT_RULE), null);
});

Deno.test("versionedUrl() adds the etag to a public URL and leaves a signed one alone", () => {
  assert.equal(
    versionedUrl("https://cdn.example/img/14000.jpg", '"abc"'),
    "https://cdn.example/img/14000.jpg?v=abc",
  );
  const signed = "https://s3.example/b/14000.jpg?X-Amz-Date=1&X-Amz-Signature=f";
  assert.equal(versionedUrl(signed, '"abc"'), signed);
});

Deno.test("needsNewSignature() spots a signed URL identical to the one on screen", () => {
  const signed = "https://s3.example/b/14000.jpg?X-Amz-Date=20261206T214542Z&X-Amz-Signature=f";
  assert.equal(needsNewSignature(signed, signed), true);
  assert.equal(needsNewSignature(signed, signed.replace("42Z", "43Z")), false);
  assert.equal(needsNewSignature(null, signed), false);
  // A public URL carries the etag as its version instead.
  assert.equal(needsNewSignature("https://cdn/x.jpg", "https://cdn/x.jpg"), false);
});
