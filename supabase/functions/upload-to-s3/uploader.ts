/**
 * Storing one product image: validate everything first (name, size, content), then write the
 * bucket, then the index — in the same request, with no silent partial success. Both upload
 * paths (multipart through the function, and the signed direct upload) end here.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Config } from "../_shared/platform/config.ts";
import { ERRORS } from "../_shared/errors.ts";
import { contentTypeForName } from "../_shared/images/names.ts";
import type { EntryMetadata, ImageIndex } from "../_shared/images/image_index.ts";
import { withExtension } from "../_shared/images/names.ts";
import { FORMAT_INFO, IMAGE_FORMATS, type ImageFormat } from "../_shared/images/formats.ts";
import { type ImageInfo, inspectImage } from "./sniffing/sniff.ts";
import {
  type ImageStorage,
  KeyExistsError,
  type StoredObject,
} from "../_shared/platform/storage.ts";
import type { UploadAnswer } from "../_shared/contract.ts";

/** The limits and headers uploads obey, from the function's configuration. */
export interface UploadSettings {
  /** Largest image, in bytes (`MAX_UPLOAD_BYTES`). */
  maxBytes: number;
  /** Largest width × height (`MAX_IMAGE_PIXELS`). */
  maxPixels: number;
  /** Accepted formats (`ALLOWED_IMAGE_TYPES`). */
  allowed: readonly ImageFormat[];
  /** Cache-Control stored with every image (`IMAGE_CACHE_CONTROL`). */
  cacheControl: string;
  /** Lifetime of a signed direct-upload URL (`SIGNED_URL_SECONDS`). */
  signedUrlSeconds: number;
  /**
   * The bucket honours `If-None-Match: *` on writes (`S3_CONDITIONAL_WRITES`, default true:
   * AWS S3, R2 and MinIO do). When false, every upload looks the key up first instead.
   */
  conditionalWrites: boolean;
}

/**
 * Reads {@linkcode UploadSettings} from `config`. `ALLOWED_IMAGE_TYPES` takes format names or
 * MIME types, comma-separated (`jpeg,png` or `image/jpeg, image/png`; `jpg` means `jpeg`).
 *
 * @throws AppError 500 `misconfigured` naming an unknown type.
 */
export function uploadSettings(config: Config): UploadSettings {
  const allowed: ImageFormat[] = [];
  for (const raw of config.ALLOWED_IMAGE_TYPES.split(",")) {
    let name = raw.trim().toLowerCase().replace(/^image\//, "");
    if (name === "") continue;
    if (name === "jpg") name = "jpeg";
    if (!(IMAGE_FORMATS as readonly string[]).includes(name)) {
      throw ERRORS.Misconfigured(
        `ALLOWED_IMAGE_TYPES is invalid: "${raw.trim()}" is not one of ${IMAGE_FORMATS.join(", ")}`,
      );
    }
    if (!allowed.includes(name as ImageFormat)) allowed.push(name as ImageFormat);
  }
  if (allowed.length === 0) throw ERRORS.Misconfigured("ALLOWED_IMAGE_TYPES is empty");
  return {
    maxBytes: config.MAX_UPLOAD_BYTES,
    maxPixels: config.MAX_IMAGE_PIXELS,
    allowed,
    cacheControl: config.IMAGE_CACHE_CONTROL,
    signedUrlSeconds: config.SIGNED_URL_SECONDS,
    conditionalWrites: config.S3_CONDITIONAL_WRITES === "true",
  };
}

/** The 200/201 answer of an upload: the HTTP contract's `UploadAnswer`. */
export type UploadResult = UploadAnswer;

/** HTTP status and body of a finished upload: 201 when written, 200 when already there. */
export interface UploadOutcome {
  status: 200 | 201;
  body: UploadResult;
}

/** A validated image about to be stored. */
export interface ValidatedImage {
  key: string;
  info: ImageInfo;
  size: number;
  sha256: string;
}

/** Options for {@linkcode ImageUploader.store}. */
export interface StoreOptions {
  /** Overwrite a different image under the same key. */
  replace: boolean;
  /**
   * Puts the bytes at `image.key`. With `onlyIfAbsent` the write must reject with
   * `KeyExistsError` when the key exists (`If-None-Match: *`).
   */
  write: (
    onlyIfAbsent: boolean,
  ) => Promise<{ etag: string; lastModified?: Date }>;
}

/** What both upload paths share. */
export interface ImageUploader {
  readonly settings: UploadSettings;
  /** Validates `bytes` named `key` and stores them (multipart path). */
  upload(input: { key: string; bytes: Uint8Array; replace: boolean }): Promise<UploadOutcome>;
  /** Checks `bytes` named `key` (size, format, pixels, polyglots, name vs content). */
  validate(key: string, bytes: Uint8Array): ValidatedImage;
  /** The Content-Type, Cache-Control and metadata a validated image is written with. */
  objectOptions(image: ValidatedImage, onlyIfAbsent: boolean): {
    contentType: string;
    cacheControl: string;
    metadata: Record<string, string>;
    onlyIfAbsent: boolean;
  };
  /** Stores an already validated image through `write`, then indexes it. */
  store(image: ValidatedImage, options: StoreOptions): Promise<UploadOutcome>;
}

/** Collaborators of {@linkcode createImageUploader}. */
export interface UploaderDeps {
  storage: ImageStorage;
  index: ImageIndex;
  settings: UploadSettings;
}

/**
 * Hex SHA-256 of `bytes`. `node:crypto` hashes the buffer in place, where WebCrypto's digest
 * copies it first: half the time and no second copy of the image in memory.
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Throws 413 unless `size` is within `maxBytes`. */
export function checkSize(size: number, maxBytes: number): void {
  if (size > maxBytes) {
    throw ERRORS.PayloadTooLarge(
      `The file is ${formatBytes(size)}; images may be at most ${
        formatBytes(maxBytes)
      }. Make it smaller and upload it again`,
      { maxBytes },
    );
  }
}

/** `10 MiB`, `1.5 MiB`, `900 KiB`, `12 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/**
 * Throws 415 `content_mismatch` unless `key`'s extension names the format the bytes really
 * are. Refused rather than renamed: the storefront asks for the product's image by name, so a
 * silently renamed file would never be shown.
 */
export function checkExtensionMatches(key: string, info: ImageInfo): void {
  if (contentTypeForName(key) === info.contentType) return;
  const label = FORMAT_INFO[info.format].label;
  const suggestion = withExtension(key, FORMAT_INFO[info.format].extension);
  throw ERRORS.ContentMismatch(
    `"${key}" is really a ${label} image; rename it to "${suggestion}" (or save it in the format its name says) and upload it again`,
    { detected: info.contentType, suggestedName: suggestion },
  );
}

/** The uploader over `deps`. */
export function createImageUploader(deps: UploaderDeps): ImageUploader {
  const { storage, index, settings } = deps;

  async function indexOrFail(key: string, metadata: EntryMetadata): Promise<void> {
    try {
      // The index client already retries transient connection errors; anything else will not
      // get better by asking again.
      await index.add(key, metadata);
    } catch (error) {
      console.error(`Index write for "${key}" failed after the bucket write:`, error);
      throw ERRORS.StoredNotIndexed(
        `The image is stored in the bucket as "${key}" but not yet in the index, so the storefront may not show it; retry the upload or run a rebuild`,
        { key },
      );
    }
  }

  /**
   * Writes a new name with a create-only write: the common case costs one write and no lookup,
   * and two managers uploading the same new name at once cannot overwrite each other. Only
   * when the name is taken (or the bucket cannot do conditional writes) is the object there
   * looked at.
   */
  async function store(image: ValidatedImage, options: StoreOptions): Promise<UploadOutcome> {
    if (!settings.conditionalWrites) {
      const existing = await storage.head(image.key);
      if (existing) return await overwrite(image, options, existing);
    }
    let written: { etag: string; lastModified?: Date };
    try {
      written = await options.write(true);
    } catch (error) {
      if (!(error instanceof KeyExistsError)) throw error;
      return await overwrite(image, options, await storage.head(image.key));
    }
    return await indexWritten(image, written, false);
  }

  /** The name is taken by `existing` (null if it went away meanwhile). */
  async function overwrite(
    image: ValidatedImage,
    options: StoreOptions,
    existing: StoredObject | null,
  ): Promise<UploadOutcome> {
    const { key, info, sha256 } = image;
    const dimensions = { width: info.width, height: info.height };
    // replace=true always writes (e.g. to apply a new IMAGE_CACHE_CONTROL to the same bytes).
    if (existing && !options.replace && existing.metadata?.sha256 === sha256) {
      // The same bytes again: nothing to write; make sure the index says so too.
      await indexOrFail(key, {
        sizeBytes: existing.size,
        etag: existing.etag,
        contentType: existing.contentType ?? info.contentType,
        lastModified: existing.lastModified,
        ...dimensions,
      });
      return {
        status: 200,
        body: {
          key,
          size: existing.size,
          contentType: existing.contentType ?? info.contentType,
          ...dimensions,
          etag: existing.etag,
          sha256,
          replaced: false,
          indexed: true,
          unchanged: true,
        },
      };
    }
    if (existing && !options.replace) {
      throw ERRORS.ImageExists(key);
    }
    // Without replace=true the object must still be absent (it went away meanwhile).
    const written = await options.write(!options.replace).catch((error) => {
      throw error instanceof KeyExistsError ? ERRORS.ImageExists(key) : error;
    });
    return await indexWritten(image, written, existing !== null);
  }

  async function indexWritten(
    image: ValidatedImage,
    written: { etag: string; lastModified?: Date },
    replaced: boolean,
  ): Promise<UploadOutcome> {
    const { key, info, size, sha256 } = image;
    const dimensions = { width: info.width, height: info.height };
    // The write's own answer when it carries a time (it does on every store we know); a HEAD
    // only for one that does not.
    const lastModified = written.lastModified ?? (await storage.head(key))?.lastModified ??
      new Date();
    await indexOrFail(key, {
      sizeBytes: size,
      etag: written.etag,
      contentType: info.contentType,
      lastModified,
      ...dimensions,
    });
    return {
      status: 201,
      body: {
        key,
        size,
        contentType: info.contentType,
        ...dimensions,
        etag: written.etag,
        sha256,
        replaced,
        indexed: true,
        unchanged: false,
      },
    };
  }

  /** Every check of the bytes themselves: size, format, pixels, polyglots, name vs content. */
  function validate(key: string, bytes: Uint8Array): ValidatedImage {
    checkSize(bytes.length, settings.maxBytes);
    const info = inspectImage(bytes, { allowed: settings.allowed, maxPixels: settings.maxPixels });
    checkExtensionMatches(key, info);
    return { key, info, size: bytes.length, sha256: sha256Hex(bytes) };
  }

  /** How a validated image is written, whichever way its bytes travel (put or copy). */
  function objectOptions(image: ValidatedImage, onlyIfAbsent: boolean) {
    return {
      contentType: image.info.contentType,
      cacheControl: settings.cacheControl,
      metadata: { sha256: image.sha256 },
      onlyIfAbsent,
    };
  }

  return {
    settings,
    store,
    validate,
    objectOptions,
    async upload({ key, bytes, replace }) {
      const image = validate(key, bytes);
      return await store(image, {
        replace,
        write: (onlyIfAbsent) =>
          storage.put(key, bytes, { ...objectOptions(image, onlyIfAbsent), sha256: image.sha256 }),
      });
    },
  };
}
