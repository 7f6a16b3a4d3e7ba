/**
 * The S3 implementation of {@linkcode ImageStorage}: works against AWS S3, Cloudflare R2, MinIO
 * and the local emulator by configuration alone. The client is imported statically (a dynamic
 * import of the SDK once broke a production bundle).
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
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { Config } from "./config.ts";
import { ERRORS } from "../errors.ts";
import { classifyS3Error, storageError } from "./s3_errors.ts";
import { withFastListing } from "./listing_xml.ts";
import { type ImageStorage, KeyExistsError, SourceChangedError, unquoteEtag } from "./storage.ts";

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

function alreadyExists(error: unknown, key: string): unknown {
  return classifyS3Error(error) === "precondition_failed" ? new KeyExistsError(key) : error;
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
          if (classifyS3Error(error) === "precondition_failed" && options.sourceIfMatch) {
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
          if (classifyS3Error(error) === "no_such_key") return null;
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

    delete: (key, options = {}) =>
      guard(async () => {
        await sdk().send(
          new DeleteObjectCommand({
            Bucket: bucket,
            Key: key,
            IfMatch: options.ifMatch ? `"${options.ifMatch}"` : undefined,
          }),
        );
      }),

    listPage: (options = {}) =>
      guard(async () => {
        const command = new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: options.prefix || undefined,
          ContinuationToken: options.token,
          StartAfter: options.token ? undefined : options.startAfter,
          MaxKeys: options.maxKeys ?? 1000,
        });
        const readFast = withFastListing(command, options.onNextToken);
        const answer = await sdk().send(command);
        const output = readFast() ?? answer;
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
          retries: Math.max(0, (answer.$metadata.attempts ?? 1) - 1),
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
