/**
 * What the functions need from a bucket, as an interface: {@linkcode ImageStorage}, the shapes it
 * speaks in, and the two outcomes of a conditional write that callers handle by type. The S3
 * implementation is `s3_client.ts`; what its failures mean is `s3_errors.ts`.
 *
 * @module
 */

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
  /**
   * Attempts the page took beyond the first (the client retried a throttled or failed request);
   * absent or 0 when it came at once. A caller listing in parallel slows down when it is not 0.
   */
  retries?: number;
}

/** Options for {@linkcode ImageStorage.listPage}. */
export interface ListOptions {
  prefix?: string;
  /** The continuation token of the previous page. */
  token?: string;
  /** List the keys after this one (S3's `StartAfter`; ignored by S3 when `token` is given). */
  startAfter?: string;
  maxKeys?: number;
  /**
   * Told the next page's continuation token as soon as the answer names it, before the page is
   * read whole, so the next request can go out meanwhile. A hint: the page's own `nextToken` is
   * the answer. Not every store calls it.
   */
  onNextToken?: (token: string) => void;
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
  /**
   * Deletes the object. With `ifMatch` only while it still has that ETag (`If-Match`, honoured
   * by AWS S3, R2, MinIO and the local emulator): a 412 then rejects and nothing is deleted.
   */
  delete(key: string, options?: { ifMatch?: string }): Promise<void>;
  listPage(options?: ListOptions): Promise<ListPage>;
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
