import assert from "node:assert/strict";
import { AppError } from "../errors.ts";
import { parseConfig } from "./config.ts";

const VALID = {
  AWS_ACCESS_KEY: "AKIA",
  AWS_SECRET_ACCESS_KEY: "secret",
  S3_BUCKET: "product-images",
  SUPABASE_DB_URL: "postgresql://postgres@127.0.0.1:5432/postgres",
};

Deno.test("parseConfig() applies every documented default (.env.example, docs)", () => {
  const {
    SUPABASE_DB_URL: _db,
    AWS_ACCESS_KEY: _k,
    AWS_SECRET_ACCESS_KEY: _s,
    S3_BUCKET: _b,
    ...defaults
  } = parseConfig(VALID);
  assert.deepEqual(defaults, {
    AWS_REGION: "us-east-1",
    S3_CONDITIONAL_WRITES: "true",
    MAX_UPLOAD_BYTES: 10 * 1024 * 1024,
    MAX_IMAGE_PIXELS: 40_000_000,
    ALLOWED_IMAGE_TYPES: "jpeg,png,webp,gif,avif",
    IMAGE_CACHE_CONTROL: "public, max-age=300, stale-while-revalidate=60",
    SIGNED_URL_SECONDS: 300,
    REBUILD_CPU_BUDGET_MS: 1200,
    REBUILD_WALL_BUDGET_MS: 60_000,
    REBUILD_PAGE_BUDGET: 60,
    REBUILD_KEY_BUDGET: 60_000,
    REBUILD_BUDGET_CLOCKS: { cpu: true },
    REBUILD_PARALLELISM: 16,
    REBUILD_MAX_HOPS: 500,
    REBUILD_LEASE_SECONDS: 45,
  });
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

Deno.test("parseConfig() budgets: wall and work always, CPU unless REBUILD_BUDGET_CLOCKS=wall,work", () => {
  const defaults = parseConfig(VALID);
  assert.deepEqual(defaults.REBUILD_BUDGET_CLOCKS, { cpu: true });
  assert.equal(defaults.REBUILD_PAGE_BUDGET, 60);
  assert.equal(defaults.REBUILD_KEY_BUDGET, 60_000);
  assert.equal(defaults.REBUILD_MAX_HOPS, 500);
  // A dead worker's lease plus pg_cron's minute: its job resumes within two minutes.
  assert.ok(defaults.REBUILD_LEASE_SECONDS + 60 < 120);
  // Defaults stay well under hosted's 2 s CPU and 150 s wall.
  assert.ok(defaults.REBUILD_CPU_BUDGET_MS <= 1500 && defaults.REBUILD_WALL_BUDGET_MS <= 90_000);
  const noCpu = parseConfig({ ...VALID, REBUILD_BUDGET_CLOCKS: "wall, work" });
  assert.deepEqual(noCpu.REBUILD_BUDGET_CLOCKS, { cpu: false });
  assert.throws(
    () => parseConfig({ ...VALID, REBUILD_BUDGET_CLOCKS: "cpu" }),
    /REBUILD_BUDGET_CLOCKS is invalid: expected wall,work or cpu,wall,work/,
  );
});

Deno.test("parseConfig() takes an optional pooler URL and refuses one that is not postgresql://", () => {
  const url = "postgresql://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres";
  assert.equal(parseConfig({ ...VALID, DB_POOLER_URL: url }).DB_POOLER_URL, url);
  assert.equal(parseConfig(VALID).DB_POOLER_URL, undefined);
  assert.throws(
    () => parseConfig({ ...VALID, DB_POOLER_URL: "https://pw@pooler" }),
    (error: Error) => /DB_POOLER_URL is invalid/.test(error.message) && !/pw@/.test(error.message),
  );
});

Deno.test("parseConfig() live sync: EVENTS_SECRET of 32+ characters, empty counts as unset", () => {
  const secret = "0123456789abcdef0123456789abcdef";
  assert.equal(parseConfig({ ...VALID, EVENTS_SECRET: secret }).EVENTS_SECRET, secret);
  assert.equal(parseConfig({ ...VALID, EVENTS_SECRET: "" }).EVENTS_SECRET, undefined);
  assert.throws(
    () => parseConfig({ ...VALID, EVENTS_SECRET: "short-secret" }),
    (error: Error) =>
      /EVENTS_SECRET is invalid: expected at least 32 characters/.test(error.message) &&
      !/short-secret/.test(error.message),
  );
  const sns = parseConfig({
    ...VALID,
    EVENTS_SNS_TOPIC_ARNS: " arn:aws:sns:us-east-1:1:a , arn:aws:sns:us-east-1:1:b,",
    EVENTS_SNS_CERT_URL_PREFIX: "http://127.0.0.1:9000/certs/",
  });
  assert.deepEqual(sns.EVENTS_SNS_TOPIC_ARNS, [
    "arn:aws:sns:us-east-1:1:a",
    "arn:aws:sns:us-east-1:1:b",
  ]);
  assert.equal(sns.EVENTS_SNS_CERT_URL_PREFIX, "http://127.0.0.1:9000/certs/");
  assert.throws(
    () => parseConfig({ ...VALID, EVENTS_SNS_CERT_URL_PREFIX: "http://127.0.0.1:9000" }),
    /EVENTS_SNS_CERT_URL_PREFIX is invalid: expected a URL ending with \//,
  );
});
