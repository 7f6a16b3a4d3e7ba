import assert from "node:assert/strict";
import { AppError } from "../http/errors.ts";
import { parseConfig } from "./config.ts";

const VALID = {
  AWS_ACCESS_KEY: "AKIA",
  AWS_SECRET_ACCESS_KEY: "secret",
  S3_BUCKET: "product-images",
  SUPABASE_DB_URL: "postgresql://postgres@127.0.0.1:5432/postgres",
};

Deno.test("parseConfig() applies documented defaults", () => {
  const config = parseConfig(VALID);
  assert.equal(config.AWS_REGION, "us-east-1");
  assert.equal(config.MAX_UPLOAD_BYTES, 10 * 1024 * 1024);
  assert.equal(config.S3_ENDPOINT, undefined);
});

Deno.test("parseConfig() names every missing variable and never echoes values", () => {
  assert.throws(
    () => parseConfig({ AWS_SECRET_ACCESS_KEY: "very-secret-value", SUPABASE_DB_URL: "x" }),
    (error) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, "misconfigured");
      assert.match(error.message, /AWS_ACCESS_KEY is not set/);
      assert.match(error.message, /S3_BUCKET is not set/);
      assert.doesNotMatch(error.message, /very-secret-value/);
      return true;
    },
  );
});

Deno.test("parseConfig() refuses a malformed endpoint and a non-numeric limit", () => {
  assert.throws(
    () => parseConfig({ ...VALID, S3_ENDPOINT: "not a url" }),
    /S3_ENDPOINT is invalid/,
  );
  assert.throws(
    () => parseConfig({ ...VALID, MAX_UPLOAD_BYTES: "ten" }),
    /MAX_UPLOAD_BYTES is invalid/,
  );
});
