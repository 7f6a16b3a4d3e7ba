/**
 * The stack's bucket through the functions' own storage module, for seeding, tests and
 * benchmarks that write or read objects out of band.
 *
 * @module
 */
import { parseConfig } from "../../supabase/functions/_shared/platform/config.ts";
import { createS3Storage } from "../../supabase/functions/_shared/platform/s3_client.ts";
import { type ImageStorage } from "../../supabase/functions/_shared/platform/storage.ts";
import type { StackInfo } from "./stack.ts";

/** An {@linkcode ImageStorage} on the stack's bucket, with the stack's credentials. */
export function stackStorage(
  info: Pick<
    StackInfo,
    | "AWS_ACCESS_KEY"
    | "AWS_SECRET_ACCESS_KEY"
    | "AWS_REGION"
    | "S3_BUCKET"
    | "S3_ENDPOINT"
    | "DB_URL"
  >,
): ImageStorage {
  return createS3Storage(parseConfig({
    AWS_ACCESS_KEY: info.AWS_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: info.AWS_SECRET_ACCESS_KEY,
    AWS_REGION: info.AWS_REGION,
    S3_BUCKET: info.S3_BUCKET,
    S3_ENDPOINT: info.S3_ENDPOINT || undefined,
    SUPABASE_DB_URL: info.DB_URL,
  }));
}
