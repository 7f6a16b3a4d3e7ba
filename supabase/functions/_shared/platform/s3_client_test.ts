import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { createS3Storage } from "./s3_client.ts";

const BASE = {
  AWS_ACCESS_KEY: "AKIAEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "secret",
  AWS_REGION: "eu-west-1",
  S3_BUCKET: "product-images",
  SUPABASE_DB_URL: "postgresql://x@127.0.0.1/x",
};

const CHECKSUM_PARAMS = /x-amz-checksum-|x-amz-sdk-checksum-algorithm/i;

async function presignedPut(env: Record<string, string>): Promise<URL> {
  const storage = createS3Storage(parseConfig({ ...BASE, ...env }));
  return new URL(
    await storage.signedPutUrl("14000.jpg", {
      contentType: "image/jpeg",
      contentLength: 1234,
      seconds: 300,
    }),
  );
}

Deno.test("signedPutUrl() on AWS S3 (no endpoint) carries no checksum, so a browser PUT of any body is accepted", async () => {
  const url = await presignedPut({});
  assert.equal(url.hostname, "product-images.s3.eu-west-1.amazonaws.com", "virtual-hosted on AWS");
  assert.equal(url.pathname, "/14000.jpg");
  const params = [...url.searchParams.keys()];
  assert.deepEqual(params.filter((name) => CHECKSUM_PARAMS.test(name)), [], url.href);
  assert.ok(params.includes("X-Amz-Signature"));
  assert.match(url.searchParams.get("X-Amz-SignedHeaders") ?? "", /content-length/);
});

Deno.test("signedPutUrl() with a custom endpoint is path-style and carries no checksum", async () => {
  const url = await presignedPut({ S3_ENDPOINT: "https://account.r2.cloudflarestorage.com" });
  assert.equal(url.hostname, "account.r2.cloudflarestorage.com");
  assert.equal(url.pathname, "/product-images/14000.jpg");
  assert.deepEqual([...url.searchParams.keys()].filter((n) => CHECKSUM_PARAMS.test(n)), []);
});

Deno.test("S3_FORCE_PATH_STYLE=false keeps virtual-hosted addressing on a custom endpoint", async () => {
  const url = await presignedPut({
    S3_ENDPOINT: "https://minio.example.com",
    S3_FORCE_PATH_STYLE: "false",
  });
  assert.equal(url.hostname, "product-images.minio.example.com");
});
