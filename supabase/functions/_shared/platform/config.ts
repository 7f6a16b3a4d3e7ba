/**
 * Function configuration, read from the environment once and validated with zod. A missing or
 * bad value is a startup error that names the variable — never a silent `?? ''`.
 *
 * @module
 */
import { z } from "zod";
import { ERRORS } from "../errors.ts";

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** An optional setting written as `NAME=` (empty) counts as unset, as in a copied .env.example. */
const unsetWhenEmpty = <S extends z.ZodType>(schema: S) =>
  z.preprocess((value) => value === "" ? undefined : value, schema);

const ConfigSchema = z.object({
  AWS_ACCESS_KEY: z.string().min(1),
  AWS_SECRET_ACCESS_KEY: z.string().min(1),
  AWS_REGION: z.string().min(1).default("us-east-1"),
  S3_BUCKET: z.string().min(3).max(63),
  /** R2, MinIO or a local emulator; absent for AWS S3 itself. */
  S3_ENDPOINT: z.url().optional(),
  /** Path-style addressing; on by default whenever S3_ENDPOINT is set. */
  S3_FORCE_PATH_STYLE: z.enum(["true", "false"]).optional(),
  /** Whether the bucket honours `If-None-Match: *` on PutObject/CopyObject (see upload.ts). */
  S3_CONDITIONAL_WRITES: z.enum(["true", "false"]).default("true"),
  SUPABASE_DB_URL: z.string().min(1),
  /**
   * Supavisor's transaction-mode URL (`postgresql://postgres.<ref>:<password>@<pooler host>:6543/
   * postgres`), used instead of SUPABASE_DB_URL when set (see db.ts).
   */
  DB_POOLER_URL: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgresql:// URL")
    .optional(),
  MAX_UPLOAD_BYTES: positiveInt(10 * 1024 * 1024),
  /** Decompression-bomb ceiling: width × height above this is refused. */
  MAX_IMAGE_PIXELS: positiveInt(40_000_000),
  /** Comma-separated subset of jpeg,png,webp,gif,avif. */
  ALLOWED_IMAGE_TYPES: z.string().default("jpeg,png,webp,gif,avif"),
  /**
   * Product images are replaced under the same key, so `immutable` would pin stale pictures in
   * browsers; a short max-age with revalidation keeps replacements visible within minutes.
   */
  IMAGE_CACHE_CONTROL: z.string().min(1).default("public, max-age=300, stale-while-revalidate=60"),
  /** Base URL (CDN or public bucket) for image links; signed GET URLs are used when absent. */
  PUBLIC_IMAGE_BASE_URL: z.url().optional(),
  /** Lifetime of signed preview/upload URLs. */
  SIGNED_URL_SECONDS: positiveInt(300),
  /** Per-invocation rebuild budget; defaults stay well under Supabase Free's 2 s CPU / 150 s wall. */
  REBUILD_CPU_BUDGET_MS: positiveInt(1200),
  REBUILD_WALL_BUDGET_MS: positiveInt(60_000),
  /**
   * Work per invocation, counted by us: the hosted runtime reports no CPU time, so listing pages
   * and keys stand in for it. Measured under plain Deno: 7-11 ms of CPU per page of 1,000 keys
   * (listed, parsed, checked, staged; 30-70 ms before the listing was read without the SDK's XML
   * parser), so 60 pages stay under 0.7 s, a third of hosted's 2 s.
   */
  REBUILD_PAGE_BUDGET: positiveInt(60),
  REBUILD_KEY_BUDGET: positiveInt(60_000),
  /**
   * Which clocks a budget reads: `wall` and `work` always; `cpu` only where the runtime reports
   * CPU time (`process.cpuUsage`), and never required. `wall,work` ignores it even where it exists.
   */
  REBUILD_BUDGET_CLOCKS: z.string().default("cpu,wall,work").transform((value, context) => {
    const clocks = value.split(",").map((clock) => clock.trim()).filter(Boolean);
    const unknown = clocks.filter((clock) => !["cpu", "wall", "work"].includes(clock));
    if (unknown.length || !clocks.includes("wall") || !clocks.includes("work")) {
      context.addIssue({
        code: "custom",
        message: "expected wall,work or cpu,wall,work",
      });
      return z.NEVER;
    }
    return { cpu: clocks.includes("cpu") };
  }),
  /**
   * Listing streams one rebuild runs at once, over all its invocations (1: one stream, as before
   * key ranges). Each invocation lists four ranges at a time (one isolate works on one thread: at
   * ~10 ms of CPU a page and ~100 ms a page from S3, four use well under half of it) and starts
   * more invocations through the self-call up to this total, each with its own 2 s of CPU and
   * 150 s/400 s of wall, and one database connection (direct: 1-2 per isolate; through the
   * pooler these are a handful of the pool's connections for the length of the rebuild).
   * 16 = four invocations: a million keys at ~100 ms a page list in ~12 s instead of ~110 s,
   * while staging (~2 ms a page under the job row lock) stays far from the database's limits.
   */
  REBUILD_PARALLELISM: positiveInt(16),
  /** Self-continuations in one chain before it stops and leaves the job to the scheduler. */
  REBUILD_MAX_HOPS: positiveInt(500),
  /**
   * Renewed with every staged page; a worker silent this long counts as dead. 45 s plus the
   * scheduler's minute keeps a dead worker's job resumed within two minutes.
   */
  REBUILD_LEASE_SECONDS: positiveInt(45),
  /** This function's own public URL base, for self-continuation (SUPABASE_URL + /functions/v1). */
  SUPABASE_URL: z.url().optional(),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1).optional(),
  /**
   * Live sync: the credential bucket event senders present to `POST /s3-image-service/events`
   * (`Authorization: Bearer <secret>`, or as the password of HTTP Basic auth for SNS). Unset:
   * live sync is off and the route answers 503 `events_disabled`. At least 32 characters
   * (`openssl rand -hex 32`): it is the only thing between the internet and the index.
   */
  EVENTS_SECRET: unsetWhenEmpty(
    z.string().min(32, "expected at least 32 characters (openssl rand -hex 32)").optional(),
  ),
  /**
   * LOCAL STACKS AND TESTS ONLY: one more URL prefix SNS signing certificates (and subscription
   * confirmations) may come from, for a stack that has no Amazon SNS. On a project, leave it
   * unset: then only `https://sns.<region>.amazonaws.com[.cn]/….pem` is trusted.
   */
  EVENTS_SNS_CERT_URL_PREFIX: unsetWhenEmpty(
    z.url().refine((url) => url.endsWith("/"), "expected a URL ending with /").optional(),
  ),
  /** Comma-separated SNS topic ARNs whose deliveries are accepted; any topic when unset. */
  EVENTS_SNS_TOPIC_ARNS: unsetWhenEmpty(
    z.string().optional().transform((value) =>
      value?.split(",").map((arn) => arn.trim()).filter(Boolean)
    ),
  ),
});

/** The validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/** Validates an environment map; throws an {@linkcode AppError} naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = ConfigSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join(".");
    return env[name] === undefined || env[name] === ""
      ? `${name} is not set`
      : `${name} is invalid: ${issue.message}`;
  });
  throw ERRORS.Misconfigured(`Function configuration error: ${problems.join("; ")}`);
}
