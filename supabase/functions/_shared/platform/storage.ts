/**
 * The one place that talks S3. Handlers receive an {@linkcode ImageStorage}; the S3
 * implementation works against AWS S3, Cloudflare R2, MinIO and the local emulator by
 * configuration alone.
 *
 * Retries: the SDK's standard strategy (exponential backoff with jitter) retries 5xx,
 * throttling (`SlowDown`) and connection resets, and never a 4xx; we only raise its attempts.
 *
 * @module
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { Config } from "./config.ts";
import { AppError, ERRORS } from "../errors.ts";

/** An object's metadata as S3 reports it. ETags are returned without their quotes. */
export interface StoredObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  contentType?: string;
  metadata?: Record<string, string>;
}

/** One ListObjectsV2 page. `nextToken` is absent on the last page. */
export interface ListPage {
  objects: Array<Pick<StoredObject, "key" | "size" | "etag" | "lastModified">>;
  nextToken?: string;
}

/** Options for {@linkcode ImageStorage.put}. */
export interface PutOptions {
  contentType: string;
  cacheControl?: string;
  /** User metadata (`x-amz-meta-*`), e.g. the content hash. */
  metadata?: Record<string, string>;
  /**
   * Hex SHA-256 of the body, when the caller has it already: sent as `x-amz-content-sha256`, so
   * the SDK's request signing does not hash the body a second time (~1.3 ms a MiB under Deno).
   */
  sha256?: string;
  /**
   * Write only when no object has the key (`If-None-Match: *`); a taken key rejects with
   * {@linkcode KeyExistsError}. Stores that ignore the header simply write.
   */
  onlyIfAbsent?: boolean;
}

/** What the functions need from a bucket. */
export interface ImageStorage {
  readonly bucket: string;
  /**
   * Writes the object. `lastModified` is the store's `Last-Modified` answer when it gives one,
   * else its `Date` header (second precision): S3 does not return LastModified from PutObject,
   * and asking with a HeadObject would cost a second request on every upload.
   */
  put(
    key: string,
    body: Uint8Array,
    options: PutOptions,
  ): Promise<{ etag: string; lastModified?: Date }>;
  /**
   * Server-side copy of `sourceKey` to `key` with new headers and metadata
   * (`MetadataDirective: REPLACE`); the bytes never pass through the function.
   */
  /**
   * Copies `sourceKey` to `key`. With `sourceIfMatch` the copy happens only while the source
   * still has that ETag (`x-amz-copy-source-if-match`), else it rejects with
   * {@linkcode SourceChangedError}: what was checked is exactly what is published.
   */
  copy(
    sourceKey: string,
    key: string,
    options: PutOptions & { sourceIfMatch?: string },
  ): Promise<{ etag: string; lastModified: Date }>;
  /** The object's metadata, or `null` when there is no such key. */
  head(key: string): Promise<StoredObject | null>;
  /** Bytes `start`..`end` inclusive (fewer when the object is shorter). */
  getRange(key: string, start: number, end: number): Promise<Uint8Array>;
  get(key: string): Promise<Uint8Array>;
  /** The bytes and the ETag of exactly those bytes (to copy them later only if unchanged). */
  getWithEtag(key: string): Promise<{ bytes: Uint8Array; etag: string }>;
  delete(key: string): Promise<void>;
  listPage(options?: { prefix?: string; token?: string; maxKeys?: number }): Promise<ListPage>;
  signedGetUrl(key: string, seconds: number): Promise<string>;
  /** A presigned PUT bound to the declared content type and length. */
  signedPutUrl(
    key: string,
    options: { contentType: string; contentLength: number; seconds: number },
  ): Promise<string>;
}

/** Strips the quotes S3 puts around ETags. */
export function unquoteEtag(etag: string | undefined): string {
  return (etag ?? "").replace(/^W\//, "").replace(/^"|"$/g, "");
}

/**
 * Builds the SDK client for `config`. Exported for tests and benchmarks. `maxAttempts` (default
 * 5) is lowered by health checks, which want an answer now rather than after retries.
 */
export function createS3Client(config: Config, options: { maxAttempts?: number } = {}): S3Client {
  const customEndpoint = config.S3_ENDPOINT !== undefined;
  return new S3Client({
    region: config.AWS_REGION,
    credentials: {
      accessKeyId: config.AWS_ACCESS_KEY,
      secretAccessKey: config.AWS_SECRET_ACCESS_KEY,
    },
    endpoint: config.S3_ENDPOINT,
    forcePathStyle: config.S3_FORCE_PATH_STYLE
      ? config.S3_FORCE_PATH_STYLE === "true"
      : customEndpoint,
    // Always, on AWS too: with the SDK's defaults a presigned PUT carries the CRC32 of an empty
    // body (every direct upload then fails), and R2, MinIO and the emulators mishandle the
    // default checksum trailers on streamed bodies.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: "standard",
  });
}

/**
 * Checks that the bucket exists and our credentials reach it (`HeadBucket`, one attempt).
 * Resolves when it does; rejects with the SDK's error otherwise (see {@linkcode describeS3Failure}).
 */
export async function headBucket(
  config: Config,
  options: { signal?: AbortSignal; client?: S3Client } = {},
): Promise<void> {
  const client = options.client ?? createS3Client(config, { maxAttempts: 1 });
  try {
    await client.send(new HeadBucketCommand({ Bucket: config.S3_BUCKET }), {
      abortSignal: options.signal,
    });
  } finally {
    if (!options.client) client.destroy();
  }
}

/**
 * A short, secret-free sentence for an S3 failure, for operators (`/health?deep=true`): what
 * went wrong and which setting to check, never a key or a signature.
 */
export function describeS3Failure(error: unknown, bucket: string): string {
  const name = (error as { name?: string })?.name ?? "";
  const status = statusOf(error);
  const code = (error as { code?: string })?.code;
  if (name === "NoSuchBucket" || name === "NotFound" || status === 404) {
    return `bucket "${bucket}" was not found (404): check S3_BUCKET, AWS_REGION and S3_ENDPOINT`;
  }
  if (status === 301 || name === "PermanentRedirect") {
    return `bucket "${bucket}" is in another region (301): check AWS_REGION`;
  }
  if (
    status === 403 || name === "AccessDenied" || name === "Forbidden" ||
    name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch"
  ) {
    return `access to bucket "${bucket}" was refused (${status ?? name}): check ` +
      `AWS_ACCESS_KEY, AWS_SECRET_ACCESS_KEY and the key's policy`;
  }
  if (status !== undefined) return `the bucket answered ${status}${name ? ` ${name}` : ""}`;
  if (code && /^E[A-Z]+$/.test(code)) return `the S3 endpoint is unreachable (${code})`;
  return `the S3 endpoint is unreachable${name ? ` (${name})` : ""}`;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** Maps an SDK error to what a caller should see; 5xx internals are logged, not returned. */
export function storageError(error: unknown, bucket: string): AppError | KeyExistsError {
  if (
    error instanceof AppError || error instanceof KeyExistsError ||
    error instanceof SourceChangedError
  ) return error;
  const name = (error as { name?: string })?.name ?? "";
  if (name === "NoSuchBucket") {
    return ERRORS.Misconfigured(
      `Bucket "${bucket}" was not found: check S3_BUCKET, AWS_REGION and S3_ENDPOINT`,
    );
  }
  if (
    name === "AccessDenied" || name === "InvalidAccessKeyId" ||
    name === "SignatureDoesNotMatch" || statusOf(error) === 403
  ) {
    return ERRORS.Misconfigured(
      `The bucket "${bucket}" refused our credentials (${
        name || "403"
      }): check AWS_ACCESS_KEY and AWS_SECRET_ACCESS_KEY`,
    );
  }
  console.error("S3 error:", name, statusOf(error), error);
  return ERRORS.StorageUnavailable("Image storage is unavailable right now; try again");
}

/**
 * A copy whose source no longer has the ETag it was checked with (`sourceIfMatch`): someone
 * wrote other bytes there meanwhile, and nothing was copied.
 */
export class SourceChangedError extends Error {
  constructor(readonly key: string) {
    super(`The object "${key}" changed since it was read`);
    this.name = "SourceChangedError";
  }
}

/**
 * A create-only write found the key taken (S3 answered 412 to `If-None-Match: *`). Storage says
 * only that; what it means to a caller is the upload layer's to word.
 */
export class KeyExistsError extends Error {
  constructor(readonly key: string) {
    super(`The key "${key}" exists`);
    this.name = "KeyExistsError";
  }
}

function alreadyExists(error: unknown, key: string): unknown {
  return statusOf(error) === 412 ? new KeyExistsError(key) : error;
}

/**
 * Sets `x-amz-content-sha256` before signing; the SigV4 signer uses a payload hash it finds
 * there instead of computing its own.
 */
function withPayloadHash(command: PutObjectCommand, sha256: string): void {
  command.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = sha256;
      return next(args);
    },
    { step: "build", name: "knownPayloadHash" },
  );
}

/**
 * Reads the write's time from the raw response (the SDK's PutObject output has no such field):
 * `Last-Modified` when the store sends it, else `Date`. Returns a getter for after `send`.
 */
function captureWriteTime(command: PutObjectCommand): () => Date | undefined {
  let answeredAt: Date | undefined;
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const headers = (result.response as { headers?: Record<string, string | undefined> })
        ?.headers ?? {};
      const stamp = headers["last-modified"] ?? headers["date"];
      const parsed = stamp === undefined ? NaN : Date.parse(stamp);
      answeredAt = Number.isNaN(parsed) ? undefined : new Date(parsed);
      return result;
    },
    { step: "deserialize", name: "captureWriteTime" },
  );
  return () => answeredAt;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === "NotFound" || name === "NoSuchKey" || statusOf(error) === 404;
}

/** The S3-backed {@linkcode ImageStorage}; the client is created on first use. */
export function createS3Storage(config: Config, client?: S3Client): ImageStorage {
  let s3 = client;
  const bucket = config.S3_BUCKET;
  const sdk = () => (s3 ??= createS3Client(config));
  const guard = async <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      return await operation();
    } catch (error) {
      throw storageError(error, bucket);
    }
  };

  return {
    bucket,
    put: (key, body, options) =>
      guard(async () => {
        const command = new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          ContentType: options.contentType,
          CacheControl: options.cacheControl,
          Metadata: options.metadata,
          IfNoneMatch: options.onlyIfAbsent ? "*" : undefined,
        });
        if (options.sha256) withPayloadHash(command, options.sha256);
        const answeredAt = captureWriteTime(command);
        const output = await sdk().send(command)
          .catch((error) => Promise.reject(alreadyExists(error, key)));
        return { etag: unquoteEtag(output.ETag), lastModified: answeredAt() };
      }),

    copy: (sourceKey, key, options) =>
      guard(async () => {
        const output = await sdk().send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: key,
            CopySource: `${bucket}/${encodeURIComponent(sourceKey).replace(/%2F/g, "/")}`,
            MetadataDirective: "REPLACE",
            ContentType: options.contentType,
            CacheControl: options.cacheControl,
            Metadata: options.metadata,
            IfNoneMatch: options.onlyIfAbsent ? "*" : undefined,
            CopySourceIfMatch: options.sourceIfMatch ? `"${options.sourceIfMatch}"` : undefined,
          }),
        ).catch(async (error) => {
          // One 412 answers both preconditions: ask the source which one failed.
          if (statusOf(error) === 412 && options.sourceIfMatch) {
            const source = await sdk().send(
              new HeadObjectCommand({ Bucket: bucket, Key: sourceKey }),
            ).catch(() => null);
            if (unquoteEtag(source?.ETag) !== options.sourceIfMatch) {
              throw new SourceChangedError(sourceKey);
            }
          }
          throw alreadyExists(error, key);
        });
        return {
          etag: unquoteEtag(output.CopyObjectResult?.ETag),
          lastModified: output.CopyObjectResult?.LastModified ?? new Date(),
        };
      }),

    head: (key) =>
      guard(async () => {
        try {
          const output = await sdk().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
          return {
            key,
            size: output.ContentLength ?? 0,
            etag: unquoteEtag(output.ETag),
            lastModified: output.LastModified ?? new Date(0),
            contentType: output.ContentType,
            metadata: output.Metadata,
          };
        } catch (error) {
          if (isNotFound(error)) return null;
          throw error;
        }
      }),

    getRange: (key, start, end) =>
      guard(async () => {
        const output = await sdk().send(
          new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end}` }),
        );
        return await output.Body!.transformToByteArray();
      }),

    get: (key) =>
      guard(async () => {
        const output = await sdk().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return await output.Body!.transformToByteArray();
      }),

    getWithEtag: (key) =>
      guard(async () => {
        const output = await sdk().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const bytes = await output.Body!.transformToByteArray();
        return { bytes, etag: unquoteEtag(output.ETag) };
      }),

    delete: (key) =>
      guard(async () => {
        await sdk().send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      }),

    listPage: (options = {}) =>
      guard(async () => {
        const output = await sdk().send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: options.prefix || undefined,
            ContinuationToken: options.token,
            MaxKeys: options.maxKeys ?? 1000,
          }),
        );
        // A truncated page without a token would end the listing early, and a finish would
        // then remove every key after it: refuse instead.
        if (output.IsTruncated && !output.NextContinuationToken) throw ERRORS.ListingTruncated();
        return {
          objects: (output.Contents ?? []).map((object) => ({
            key: object.Key!,
            size: object.Size ?? 0,
            etag: unquoteEtag(object.ETag),
            lastModified: object.LastModified ?? new Date(0),
          })),
          nextToken: output.IsTruncated ? output.NextContinuationToken : undefined,
        };
      }),

    signedGetUrl: (key, seconds) =>
      guard(() =>
        getSignedUrl(sdk(), new GetObjectCommand({ Bucket: bucket, Key: key }), {
          expiresIn: seconds,
        })
      ),

    signedPutUrl: (key, options) =>
      guard(() =>
        getSignedUrl(
          sdk(),
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            ContentType: options.contentType,
            ContentLength: options.contentLength,
          }),
          {
            expiresIn: options.seconds,
            // Signing these headers makes S3 refuse a body of another size or type.
            signableHeaders: new Set(["content-type", "content-length"]),
          },
        )
      ),
  };
}

export { S3ServiceException };
