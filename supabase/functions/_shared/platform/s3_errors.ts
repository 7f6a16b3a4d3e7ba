/**
 * The one classifier of S3 failures. The SDK reports a failure by error name, HTTP status or
 * network code, differently across AWS, R2, MinIO and the emulators; {@linkcode classifyS3Error}
 * reads all three once, and both what an operator reads (`/health?deep=true`, through
 * {@linkcode describeS3Failure}) and what a caller gets (an {@linkcode AppError}, through
 * {@linkcode storageError}) are derived from its answer, so the two can never disagree.
 *
 * @module
 */
import { AppError, ERRORS } from "../errors.ts";
import { KeyExistsError, SourceChangedError } from "./storage.ts";

/** What an S3 failure means to us. */
export type S3ErrorKind =
  | "no_such_key" // the object is not there (HEAD/GET 404)
  | "no_such_bucket" // the bucket is not there: a configuration problem
  | "wrong_region" // 301 PermanentRedirect: AWS_REGION does not match the bucket
  | "access_denied" // credentials refused or lacking a permission
  | "precondition_failed" // 412: a conditional write or copy did not hold
  | "key_too_long" // the store refuses the key's length (S3: over 1,024 bytes; emulators: less)
  | "answered" // any other HTTP answer (5xx, SlowDown after retries, …)
  | "unreachable"; // no HTTP answer at all (DNS, refused, reset, timeout)

const ACCESS_DENIED = new Set([
  "AccessDenied",
  "Forbidden",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
]);

/** The HTTP status of an SDK error, when the store answered at all. */
export function s3Status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/**
 * The kind of an SDK error. `scope` says what was addressed: a 404 on an object request is a
 * missing key; on the bucket itself (HeadBucket) it is a missing bucket.
 */
export function classifyS3Error(
  error: unknown,
  scope: "object" | "bucket" = "object",
): S3ErrorKind {
  const name = (error as { name?: string })?.name ?? "";
  const status = s3Status(error);
  if (name === "NoSuchBucket") return "no_such_bucket";
  if (name === "NoSuchKey" || name === "NotFound" || status === 404) {
    return scope === "bucket" ? "no_such_bucket" : "no_such_key";
  }
  if (name === "PermanentRedirect" || status === 301) return "wrong_region";
  if (ACCESS_DENIED.has(name) || status === 403) return "access_denied";
  if (status === 412 || name === "PreconditionFailed") return "precondition_failed";
  if (name === "KeyTooLongError") return "key_too_long";
  return status === undefined ? "unreachable" : "answered";
}

/**
 * A short, secret-free sentence for a failure of the bucket itself, for operators: what went
 * wrong and which setting to check, never a key or a signature.
 */
export function describeS3Failure(error: unknown, bucket: string): string {
  const name = (error as { name?: string })?.name ?? "";
  const status = s3Status(error);
  switch (classifyS3Error(error, "bucket")) {
    case "no_such_bucket":
    case "no_such_key":
      return `bucket "${bucket}" was not found (404): check S3_BUCKET, AWS_REGION and S3_ENDPOINT`;
    case "wrong_region":
      return `bucket "${bucket}" is in another region (301): check AWS_REGION`;
    case "access_denied":
      return `access to bucket "${bucket}" was refused (${status ?? name}): check ` +
        `AWS_ACCESS_KEY, AWS_SECRET_ACCESS_KEY and the key's policy`;
    case "precondition_failed":
    case "key_too_long":
    case "answered":
      return `the bucket answered ${status}${name ? ` ${name}` : ""}`;
    case "unreachable": {
      const code = (error as { code?: string })?.code;
      if (code && /^E[A-Z]+$/.test(code)) return `the S3 endpoint is unreachable (${code})`;
      return `the S3 endpoint is unreachable${name ? ` (${name})` : ""}`;
    }
  }
}

/**
 * Maps an SDK error to what a caller should see: a configuration problem is a 500 that names the
 * setting; anything else a 503 whose internals are logged, not returned. Our own errors pass
 * through unchanged.
 */
export function storageError(error: unknown, bucket: string): Error {
  if (
    error instanceof AppError || error instanceof KeyExistsError ||
    error instanceof SourceChangedError
  ) return error;
  const name = (error as { name?: string })?.name ?? "";
  switch (classifyS3Error(error)) {
    case "no_such_bucket":
      return ERRORS.Misconfigured(
        `Bucket "${bucket}" was not found: check S3_BUCKET, AWS_REGION and S3_ENDPOINT`,
      );
    case "access_denied":
      return ERRORS.Misconfigured(
        `The bucket "${bucket}" refused our credentials (${
          name || "403"
        }): check AWS_ACCESS_KEY and AWS_SECRET_ACCESS_KEY`,
      );
    case "key_too_long":
      // The caller's name, not an outage: our rules allow 255 bytes, some stores fewer.
      return ERRORS.NameInvalid("The bucket refuses a name this long; choose a shorter name");
    default:
      console.error("S3 error:", name, s3Status(error), error);
      return ERRORS.StorageUnavailable("Image storage is unavailable right now; try again");
  }
}
