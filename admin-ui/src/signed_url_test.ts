import assert from "node:assert/strict";
import { signedUrlExpiry } from "./signed_url.ts";

Deno.test("signedUrlExpiry() adds X-Amz-Expires to X-Amz-Date", () => {
  const url = "https://s3.example/bucket/14000.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
    "&X-Amz-Date=20261202T100000Z&X-Amz-Expires=300&X-Amz-Signature=abc";
  assert.equal(signedUrlExpiry(url)?.toISOString(), "2026-12-02T10:05:00.000Z");
});

Deno.test("signedUrlExpiry() is null for a public URL or garbage", () => {
  assert.equal(signedUrlExpiry("https://cdn.example/14000.jpg"), null);
  assert.equal(signedUrlExpiry("not a url"), null);
  assert.equal(signedUrlExpiry("https://x/a.jpg?X-Amz-Date=yesterday&X-Amz-Expires=300"), null);
});
