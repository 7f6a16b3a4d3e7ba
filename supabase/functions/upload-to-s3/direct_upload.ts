/**
 * The signed direct-upload path for large files: the browser PUTs the bytes straight to the
 * bucket under a staging key, then asks us to confirm. Only a confirmed, fully checked file is
 * copied to its live key and indexed; a bad one is deleted.
 *
 * Staging keys look like `_incoming/<owner>/<uuid>/<declared size>/<name>` (owner: the user who
 * prepared it, the only one who may confirm it): they contain `/`, which no
 * product image name may, so an unchecked body can never be served as a product image and a
 * rebuild never indexes one. A bucket lifecycle rule should expire `_incoming/` after a day to
 * collect uploads that were never confirmed (docs/upload.md).
 *
 * @module
 */
import { z } from "zod";
import { AppError, ERRORS } from "../_shared/errors.ts";
import { FORMAT_INFO, formatOfContentType } from "../_shared/images/formats.ts";
import { contentTypeForName, imageKey, STAGING_PREFIX } from "../_shared/images/names.ts";
import { detectFormat, inspectImage } from "./sniffing/sniff.ts";
import { type ImageStorage, SourceChangedError } from "../_shared/platform/storage.ts";
import { checkSize, type ImageUploader, type UploadOutcome } from "./uploader.ts";

const changedWhileChecked = () =>
  ERRORS.Conflict("The uploaded file changed while it was checked; upload it again");

/**
 * Makes sure the live key holds exactly the checked bytes after the copy: the ETag the copy
 * answered, and the object's own ETag and size, must be the checked ones. The copy was
 * conditional on that ETag, but a store that ignores `x-amz-copy-source-if-match` (s3rver
 * does; Supabase Storage's S3 and R2 are unverified) copies whatever is staged at that moment.
 * Otherwise the object is deleted, only while it still is that wrong one (`If-Match`), and the
 * confirm is refused: nothing reaches the index.
 */
async function checkPublished(
  storage: ImageStorage,
  key: string,
  copiedEtag: string,
  checked: { etag: string; size: number },
): Promise<void> {
  const published = await storage.head(key);
  if (
    copiedEtag === checked.etag && published?.etag === checked.etag &&
    published.size === checked.size
  ) return;
  const wrongEtag = published?.etag ?? copiedEtag;
  if (published) {
    await storage.delete(key, { ifMatch: wrongEtag }).catch((error) =>
      console.error(`Removing the unchecked copy at "${key}":`, error)
    );
  }
  throw ERRORS.PublishedUnchecked(key);
}

/** How many first bytes the confirm reads before the whole object, to refuse junk cheaply. */
const SNIFF_BYTES = 4096;

const replaceFlag = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")])
  .optional();

/** Body of `POST /upload-to-s3/direct`. */
export const DirectUploadRequest = z.strictObject({
  filename: z.string(),
  contentType: z.string(),
  size: z.number().int().nonnegative(),
  replace: replaceFlag,
});

/** Body of `POST /upload-to-s3/direct/confirm`. */
export const DirectConfirmRequest = z.strictObject({
  stagingKey: z.string().min(1),
  replace: replaceFlag,
});

/** What the browser needs to send the bytes. */
export interface DirectUploadTicket {
  /** Presigned PUT URL for the staging key. */
  uploadUrl: string;
  method: "PUT";
  /** Headers the PUT must carry exactly (they are part of the signature). */
  headers: { "content-type": string };
  /** The live key the image will have once confirmed. */
  key: string;
  /** Where the bytes go first; pass it to the confirm call. */
  stagingKey: string;
  /** When `uploadUrl` stops working (ISO 8601). */
  expiresAt: string;
  /** Whether an image already has `key` (confirming then needs replace=true or the same bytes). */
  exists: boolean;
}

/** The direct-upload operations; `owner` is the caller's id (the user's `sub`). */
export interface DirectUploads {
  prepare(input: z.infer<typeof DirectUploadRequest>, owner: string): Promise<DirectUploadTicket>;
  confirm(input: z.infer<typeof DirectConfirmRequest>, owner: string): Promise<UploadOutcome>;
}

/** `_incoming/<owner>/<uuid>/<declared size>/<name>`. */
const STAGING_KEY =
  /^_incoming\/([A-Za-z0-9_-]{1,64})\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/(\d{1,15})\/([^/]+)$/;

/** The owner segment of a staging key: the caller's id, kept to characters a key may hold. */
export function ownerSegment(owner: string): string {
  const safe = owner.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
  return safe || "_";
}

/** Direct uploads over `storage`, storing through `uploader`. */
export function createDirectUploads(storage: ImageStorage, uploader: ImageUploader): DirectUploads {
  const { settings } = uploader;

  return {
    async prepare({ filename, contentType, size }, owner) {
      const key = imageKey(filename);
      if (size === 0) throw ERRORS.EmptyFile();
      checkSize(size, settings.maxBytes);
      const type = contentType.split(";")[0].trim().toLowerCase();
      const format = formatOfContentType(type);
      if (!format || !settings.allowed.includes(format)) {
        throw ERRORS.UnsupportedMediaType(
          `"${contentType}" is not accepted; upload ${
            settings.allowed.map((f) => FORMAT_INFO[f].label).join(", ")
          } images`,
        );
      }
      if (contentTypeForName(key) !== type) {
        throw ERRORS.ContentMismatch(
          `"${key}" does not name a ${
            FORMAT_INFO[format].label
          } image; name it with the extension .${FORMAT_INFO[format].extension}`,
        );
      }
      const stagingKey = `${STAGING_PREFIX}${
        ownerSegment(owner)
      }/${crypto.randomUUID()}/${size}/${key}`;
      const seconds = settings.signedUrlSeconds;
      const [uploadUrl, existing] = await Promise.all([
        storage.signedPutUrl(stagingKey, { contentType: type, contentLength: size, seconds }),
        storage.head(key),
      ]);
      return {
        uploadUrl,
        method: "PUT",
        headers: { "content-type": type },
        key,
        stagingKey,
        expiresAt: new Date(Date.now() + seconds * 1000).toISOString(),
        exists: existing !== null,
      };
    },

    async confirm({ stagingKey, replace = false }, owner) {
      const match = STAGING_KEY.exec(stagingKey);
      if (!match || imageKey(match[3]) !== match[3]) {
        throw ERRORS.ValidationFailed(
          `"${stagingKey}" is not a staging key this function handed out`,
        );
      }
      // Only the user who prepared an upload may publish it (nothing is deleted otherwise).
      if (match[1] !== ownerSegment(owner)) {
        throw ERRORS.Forbidden(
          "This upload was prepared by another user; upload the file yourself",
        );
      }
      const declared = Number(match[2]);
      const key = match[3];
      const staged = await storage.head(stagingKey);
      if (!staged) {
        throw ERRORS.NotFound(
          `Nothing was uploaded to "${stagingKey}" (or it was already confirmed); upload the file with the signed URL first`,
        );
      }
      try {
        if (staged.size === 0) throw ERRORS.EmptyFile();
        checkSize(staged.size, settings.maxBytes);
        if (staged.size !== declared) {
          throw ERRORS.ValidationFailed(
            `The uploaded file is ${staged.size} bytes but ${declared} were declared; upload it again`,
          );
        }
        // The first bytes alone refuse a non-image without downloading the rest of it.
        const head = await storage.getRange(stagingKey, 0, SNIFF_BYTES - 1);
        const format = detectFormat(head);
        if (!format || !settings.allowed.includes(format)) {
          inspectImage(head, { allowed: settings.allowed }); // throws the right 415
        }
        // The hash (for idempotency) and the markup scan need every byte.
        const { bytes, etag } = await storage.getWithEtag(stagingKey);
        if (bytes.length !== staged.size) throw changedWhileChecked();
        const image = uploader.validate(key, bytes);
        // The copy happens only while the staging key still holds these bytes (its ETag): a
        // presigned PUT is reusable until it expires, so other bytes may have arrived since.
        const outcome = await uploader.store(image, {
          replace,
          write: async (onlyIfAbsent) => {
            const written = await storage.copy(stagingKey, key, {
              ...uploader.objectOptions(image, onlyIfAbsent),
              sourceIfMatch: etag,
            }).catch((error) => {
              throw error instanceof SourceChangedError ? changedWhileChecked() : error;
            });
            await checkPublished(storage, key, written.etag, { etag, size: bytes.length });
            return written;
          },
        });
        await storage.delete(stagingKey);
        return outcome;
      } catch (error) {
        // A refused file is deleted. After a 5xx (stored_not_indexed included) it stays, so
        // the same confirm can simply be sent again (the copy is then found and re-indexed).
        if (error instanceof AppError && error.status < 500) {
          await storage.delete(stagingKey).catch((e) => console.error("Staging cleanup:", e));
        }
        throw error;
      }
    },
  };
}
