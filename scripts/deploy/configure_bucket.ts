/**
 * Applies the two bucket rules the kit relies on, through the S3 API:
 *
 * - a CORS rule, so the admin UI's browser can PUT to presigned direct-upload URLs and read
 *   signed previews (GET/HEAD/PUT from the given origins, ETag exposed);
 * - a lifecycle rule expiring `_incoming/` after 1 day, which collects direct uploads that were
 *   never confirmed (docs/upload.md).
 *
 * Both are merged into what the bucket already has: S3's Put calls replace the whole CORS or
 * lifecycle configuration, so other rules are read first and kept; ours are found by their IDs
 * and replaced, which makes a rerun a no-op.
 *
 * Usage (deploy-s3-function.sh --configure-bucket runs it):
 *
 *   deno run --allow-env --allow-net --allow-read --allow-sys scripts/deploy/configure_bucket.ts \
 *     --env-file FILE [--cors-origin ORIGIN]...
 *
 * The bucket, region and endpoint come from the env file (the function secrets). Changing bucket
 * rules needs rights the functions' least-privilege key lacks, so `BUCKET_ADMIN_ACCESS_KEY` and
 * `BUCKET_ADMIN_SECRET_ACCESS_KEY` in the shell, when set, are used instead of its keys.
 *
 * @module
 */
import {
  type CORSRule,
  GetBucketCorsCommand,
  GetBucketLifecycleConfigurationCommand,
  type LifecycleRule,
  PutBucketCorsCommand,
  PutBucketLifecycleConfigurationCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { parseArgs } from "node:util";
import { parseDotEnv } from "../stack/stack.ts";
import { STAGING_PREFIX } from "../../supabase/functions/_shared/images/names.ts";

/** ID of our CORS rule, so a rerun replaces it instead of adding another. */
export const CORS_RULE_ID = "s3-image-cache-browser-uploads";
/** ID of our lifecycle rule. */
export const LIFECYCLE_RULE_ID = "s3-image-cache-expire-incoming";

/** Where and as whom to reach the bucket. */
export interface BucketSettings {
  bucket: string;
  region: string;
  /** Absent for AWS S3 itself. */
  endpoint?: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Reads the bucket settings from the function secrets (`fileEnv`) and the shell (`shellEnv`,
 * for the admin credentials). Throws an Error naming every missing variable.
 */
export function bucketSettings(
  fileEnv: Record<string, string>,
  shellEnv: Record<string, string | undefined>,
): BucketSettings {
  const adminKey = shellEnv.BUCKET_ADMIN_ACCESS_KEY;
  const adminSecret = shellEnv.BUCKET_ADMIN_SECRET_ACCESS_KEY;
  if (Boolean(adminKey) !== Boolean(adminSecret)) {
    throw new Error(
      "Cannot use the bucket admin credentials: set both BUCKET_ADMIN_ACCESS_KEY and " +
        "BUCKET_ADMIN_SECRET_ACCESS_KEY, or neither",
    );
  }
  const settings = {
    bucket: fileEnv.S3_BUCKET,
    region: fileEnv.AWS_REGION || "us-east-1",
    endpoint: fileEnv.S3_ENDPOINT || undefined,
    accessKeyId: adminKey || fileEnv.AWS_ACCESS_KEY,
    secretAccessKey: adminSecret || fileEnv.AWS_SECRET_ACCESS_KEY,
  };
  const missing = [
    ["S3_BUCKET", settings.bucket],
    ["AWS_ACCESS_KEY", settings.accessKeyId],
    ["AWS_SECRET_ACCESS_KEY", settings.secretAccessKey],
  ].filter(([, value]) => !value).map(([name]) => name);
  if (missing.length) {
    throw new Error(`Cannot configure the bucket: ${missing.join(", ")} not set in the env file`);
  }
  const pathStyle = fileEnv.S3_FORCE_PATH_STYLE;
  return {
    ...settings,
    forcePathStyle: pathStyle ? pathStyle === "true" : settings.endpoint !== undefined,
  };
}

/** The SDK client, configured as the functions configure theirs. */
export function createBucketClient(settings: BucketSettings): S3Client {
  return new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    credentials: {
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
    },
    // R2, MinIO and emulators mishandle the SDK's default CRC32 trailers; calls that require a
    // checksum (both Puts here) still get one.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** The CORS rule browsers need for presigned uploads and signed previews from `origins`. */
export function corsRule(origins: string[]): CORSRule {
  return {
    ID: CORS_RULE_ID,
    AllowedOrigins: origins.length ? origins : ["*"],
    AllowedMethods: ["GET", "HEAD", "PUT"],
    // The presigned PUT carries Content-Type (signed) and whatever the browser adds.
    AllowedHeaders: ["*"],
    ExposeHeaders: ["ETag"],
    MaxAgeSeconds: 3000,
  };
}

/** The rule expiring unconfirmed direct uploads after a day. */
export function lifecycleRule(): LifecycleRule {
  return {
    ID: LIFECYCLE_RULE_ID,
    Status: "Enabled",
    Filter: { Prefix: STAGING_PREFIX },
    Expiration: { Days: 1 },
  };
}

/** `existing` without any rule carrying `ours.ID`, then `ours`. */
export function mergeRule<T extends { ID?: string }>(existing: T[], ours: T): T[] {
  return [...existing.filter((rule) => rule.ID !== ours.ID), ours];
}

/** What happened to one rule. */
export interface RuleOutcome {
  rule: "cors" | "lifecycle";
  status: "applied" | "unsupported" | "failed";
  message: string;
}

/** The part of the SDK client this module uses, so tests can record the calls. */
export interface SendsCommands {
  // deno-lint-ignore no-explicit-any
  send(command: any): Promise<any>;
}

/** Options for {@linkcode configureBucket}. */
export interface ConfigureOptions {
  /** Allowed browser origins; default `["*"]`. */
  corsOrigins?: string[];
}

/** Applies both rules to `bucket`, keeping the bucket's other rules. Never throws. */
export async function configureBucket(
  client: SendsCommands,
  bucket: string,
  options: ConfigureOptions = {},
): Promise<RuleOutcome[]> {
  const cors = await applyRule("cors", async () => {
    const existing = await readRules<CORSRule>(
      () => client.send(new GetBucketCorsCommand({ Bucket: bucket })),
      (output) => output.CORSRules,
      "NoSuchCORSConfiguration",
    );
    const rules = mergeRule<CORSRule>(existing, corsRule(options.corsOrigins ?? []));
    await client.send(
      new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: rules } }),
    );
    return `${rules.length} rule(s), ours allows ${rules.at(-1)!.AllowedOrigins!.join(", ")}`;
  });
  const lifecycle = await applyRule("lifecycle", async () => {
    const existing = await readRules<LifecycleRule>(
      () => client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })),
      (output) => output.Rules,
      "NoSuchLifecycleConfiguration",
    );
    const rules = mergeRule<LifecycleRule>(existing, lifecycleRule());
    await client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: rules },
      }),
    );
    return `${rules.length} rule(s), ours expires ${STAGING_PREFIX} after 1 day`;
  });
  return [cors, lifecycle];
}

async function readRules<T>(
  get: () => Promise<Record<string, unknown>>,
  pick: (output: Record<string, unknown>) => unknown,
  absentCode: string,
): Promise<T[]> {
  try {
    return (pick(await get()) as T[] | undefined) ?? [];
  } catch (error) {
    if (errorCode(error) === absentCode) return [];
    throw error;
  }
}

async function applyRule(
  rule: RuleOutcome["rule"],
  apply: () => Promise<string>,
): Promise<RuleOutcome> {
  try {
    return { rule, status: "applied", message: await apply() };
  } catch (error) {
    const code = errorCode(error);
    const detail = `${code ?? "Error"}: ${(error as Error)?.message ?? String(error)}`;
    const unsupported = code === "NotImplemented" || httpStatus(error) === 501;
    return { rule, status: unsupported ? "unsupported" : "failed", message: detail };
  }
}

function errorCode(error: unknown): string | undefined {
  const value = (error as { name?: string; Code?: string })?.Code ??
    (error as { name?: string })?.name;
  return typeof value === "string" ? value : undefined;
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** What to do when a provider lacks the API, by rule. */
const UNSUPPORTED_HINTS: Record<RuleOutcome["rule"], string> = {
  cors: "this endpoint has no bucket CORS API (MinIO sets CORS server-wide with " +
    "MINIO_API_CORS_ALLOW_ORIGIN); set an equivalent rule there, see docs/deploy.md",
  lifecycle: "this endpoint has no lifecycle API; delete _incoming/ objects older than a day " +
    "another way (docs/deploy.md)",
};

/** Renders the outcomes as lines for a terminal. */
export function describeOutcomes(bucket: string, outcomes: RuleOutcome[]): string[] {
  return outcomes.map(({ rule, status, message }) => {
    const hint = status === "unsupported" ? ` — ${UNSUPPORTED_HINTS[rule]}` : "";
    return `${status === "applied" ? "ok" : status.toUpperCase()}: ${rule} on bucket ` +
      `"${bucket}": ${message}${hint}`;
  });
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "env-file": { type: "string" },
      "cors-origin": { type: "string", multiple: true },
    },
  });
  const envFile = values["env-file"];
  if (!envFile) {
    console.error("Usage: configure_bucket.ts --env-file FILE [--cors-origin ORIGIN]...");
    return 2;
  }
  let settings: BucketSettings;
  try {
    settings = bucketSettings(parseDotEnv(await Deno.readTextFile(envFile)), Deno.env.toObject());
  } catch (error) {
    console.error((error as Error).message);
    return 1;
  }
  const client = createBucketClient(settings);
  try {
    const outcomes = await configureBucket(client, settings.bucket, {
      corsOrigins: values["cors-origin"] ?? [],
    });
    for (const line of describeOutcomes(settings.bucket, outcomes)) console.log(line);
    return outcomes.every((outcome) => outcome.status === "applied") ? 0 : 1;
  } finally {
    client.destroy();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
