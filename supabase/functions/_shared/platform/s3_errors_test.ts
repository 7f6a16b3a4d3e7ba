import assert from "node:assert/strict";
import { AppError } from "../errors.ts";
import { classifyS3Error, describeS3Failure, storageError } from "./s3_errors.ts";
import { KeyExistsError } from "./storage.ts";

/** An SDK error as the client raises it: a name and, when the store answered, its status. */
const sdkError = (name: string, status?: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

Deno.test("classifyS3Error() reads names, statuses and network codes alike", () => {
  assert.equal(classifyS3Error(sdkError("NoSuchKey", 404)), "no_such_key");
  assert.equal(classifyS3Error(sdkError("NotFound", 404)), "no_such_key");
  assert.equal(classifyS3Error(sdkError("NotFound", 404), "bucket"), "no_such_bucket");
  assert.equal(classifyS3Error(sdkError("NoSuchBucket", 404)), "no_such_bucket");
  assert.equal(classifyS3Error(sdkError("Unknown", 403)), "access_denied", "R2 answers bare 403s");
  assert.equal(classifyS3Error(sdkError("SignatureDoesNotMatch", 403)), "access_denied");
  assert.equal(classifyS3Error(sdkError("PermanentRedirect", 301)), "wrong_region");
  assert.equal(classifyS3Error(sdkError("PreconditionFailed", 412)), "precondition_failed");
  assert.equal(classifyS3Error(sdkError("SlowDown", 503)), "answered");
  assert.equal(
    classifyS3Error(Object.assign(new Error("x"), { code: "ECONNREFUSED" })),
    "unreachable",
  );
});

Deno.test("storageError() and describeS3Failure() agree: a missing bucket names S3_BUCKET in both", () => {
  const missing = sdkError("NoSuchBucket", 404);
  const error = storageError(missing, "images") as AppError;
  assert.equal(error.status, 500);
  assert.equal(error.code, "misconfigured");
  assert.match(error.message, /S3_BUCKET/);
  assert.match(describeS3Failure(missing, "images"), /S3_BUCKET/);
});

Deno.test("storageError() hides an outage's internals behind a 503 and passes our own errors", () => {
  const outage = storageError(sdkError("InternalError", 500), "images") as AppError;
  assert.equal(outage.status, 503);
  assert.equal(outage.code, "storage_unavailable");
  assert.doesNotMatch(outage.message, /InternalError/);
  const taken = new KeyExistsError("1.jpg");
  assert.equal(storageError(taken, "images"), taken);
});

Deno.test("storageError() answers a key the store finds too long as the caller's 400, not an outage", () => {
  const error = storageError(sdkError("KeyTooLongError", 400), "images") as AppError;
  assert.equal(error.status, 400);
  assert.equal(error.code, "invalid_filename");
});
