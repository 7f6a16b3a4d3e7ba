/**
 * Single-file admin operations on the index, each checked against the bucket: add a file by name
 * (HeadObject first, so no phantom entries; metadata from S3), remove an entry (optionally the
 * object too), and list/search entries with preview URLs.
 *
 * @module
 */
import { ERRORS } from "../_shared/errors.ts";
import { filenameProblem, normalizeFilename, quoteName } from "../_shared/images/names.ts";
import type { ImageIndex, IndexEntry } from "../_shared/images/image_index.ts";
import type { ImageStorage } from "../_shared/platform/storage.ts";

/** An index entry with a URL to preview it. */
export type ListedFile = IndexEntry & { url: string };

/** One page of {@linkcode FileAdmin.list}. */
export interface FilePage {
  files: ListedFile[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** The outcome of {@linkcode FileAdmin.remove}. */
export interface RemoveResult {
  filename: string;
  /** Whether an index entry was removed. */
  removed: boolean;
  /** Whether the object was deleted from the bucket (only when asked). */
  objectDeleted: boolean;
}

/** The operations. */
export interface FileAdmin {
  /**
   * Adds (or refreshes) `filename` with the size, ETag, type and Last-Modified S3 reports.
   * `force` indexes it without checking the bucket (metadata stays empty).
   *
   * @throws 400 `invalid_filename`; 404 `not_in_bucket` when the object is absent.
   */
  add(
    filename: string,
    options?: { force?: boolean },
  ): Promise<{ file: IndexEntry; checked: boolean }>;
  /**
   * Removes the entry, then (with `deleteObject`) the object: in that order, so a failure half
   * way leaves an object the index does not list (a rebuild adds it back) and never an index
   * entry without its object. The name addresses the entry named exactly so, else the one under
   * its stored form (the SQL API's rule); the object deleted is the removed entry's own key, and
   * only when no entry was removed the object named exactly so, else its stored form.
   *
   * @throws 404 `not_found` when there was neither an entry nor (when asked) an object.
   */
  remove(filename: string, options?: { deleteObject?: boolean }): Promise<RemoveResult>;
  /** A page of entries by prefix, after `cursor`, in S3's byte order, with preview URLs. */
  list(options: { prefix?: string; cursor?: string; limit: number }): Promise<FilePage>;
}

/** Options for {@linkcode createFileAdmin}. */
export interface FileAdminOptions {
  index: ImageIndex;
  storage: Pick<ImageStorage, "head" | "delete" | "signedGetUrl">;
  /** Lifetime of signed preview URLs, in seconds. */
  signedUrlSeconds: number;
  /** A public or CDN base URL; when set, previews are `base + key` instead of signed URLs. */
  publicBaseUrl?: string;
}

/** A preview URL builder: public base + encoded key, or a signed GET. */
export function previewUrlFor(
  options: Pick<FileAdminOptions, "storage" | "signedUrlSeconds" | "publicBaseUrl">,
): (key: string) => Promise<string> {
  const base = options.publicBaseUrl?.replace(/\/*$/, "/");
  if (base) return (key) => Promise.resolve(base + encodeURIComponent(key));
  return (key) => options.storage.signedGetUrl(key, options.signedUrlSeconds);
}

function checkName(verb: string, filename: string): void {
  const problem = filenameProblem(filename);
  if (problem) throw ERRORS.NameInvalid(`Cannot ${verb} file "${quoteName(filename)}": ${problem}`);
}

/** The operations over an index and a bucket. */
export function createFileAdmin(options: FileAdminOptions): FileAdmin {
  const { index, storage } = options;
  const previewUrl = previewUrlFor(options);
  return {
    async add(name, { force = false } = {}) {
      checkName("add", name);
      // The stored form (NFC, lower-case extension) is the key uploads write and the SQL API
      // indexes; a key outside it that is indexed already (from before, or listed by a rebuild)
      // is addressed exactly as stored, as add_file_to_s3_cache does.
      const filename = (await index.get(name))?.filename ?? normalizeFilename(name)!;
      const object = await storage.head(filename);
      if (!object && !force) {
        throw ERRORS.NotInBucket(
          `Cannot add file "${filename}": the bucket has no such object (pass force to index it anyway)`,
        );
      }
      await index.add(
        filename,
        object
          ? {
            sizeBytes: object.size,
            etag: object.etag,
            // Only a real image type from S3; anything else (octet-stream from a careless
            // uploader) is left to the SQL API, which derives it from the extension.
            contentType: object.contentType?.startsWith("image/") ? object.contentType : undefined,
            lastModified: object.lastModified,
          }
          : {},
      );
      const file = await index.get(filename);
      if (!file) throw ERRORS.Conflict(`File "${filename}" was removed while it was being added`);
      return { file, checked: object !== null };
    },

    async remove(filename, { deleteObject = false } = {}) {
      // Only what SQL cannot judge is checked here (Postgres text cannot hold a lone surrogate or
      // U+0000); the rest is the SQL API's call, which also removes a legacy row the rules now
      // refuse.
      if (!filename.isWellFormed() || filename.includes("\u0000")) checkName("remove", filename);
      const removedKey = await index.remove(filename);
      const removed = removedKey !== null;
      let objectDeleted = false;
      if (deleteObject) {
        // The removed row's own key, never a form computed from the name given (a bucket may
        // hold both `a.png` and `a.PNG`); without a row, the name as given, else its stored form.
        const stored = normalizeFilename(filename) ?? filename;
        const keys = removedKey !== null
          ? [removedKey]
          : stored === filename
          ? [filename]
          : [filename, stored];
        for (const key of keys) {
          if ((await storage.head(key)) === null) continue;
          await storage.delete(key);
          objectDeleted = true;
          break;
        }
      }
      if (!removed && !objectDeleted) {
        throw ERRORS.NotFound(
          deleteObject
            ? `Cannot remove file "${filename}": it is neither in the cache nor in the bucket`
            : `Cannot remove file "${filename}": it is not in the cache`,
        );
      }
      return { filename, removed, objectDeleted };
    },

    async list({ prefix = "", cursor, limit }) {
      const rows = await index.search({ prefix, after: cursor, pageSize: limit + 1 });
      const page = rows.slice(0, limit);
      const files = await Promise.all(
        page.map(async (entry) => ({ ...entry, url: await previewUrl(entry.filename) })),
      );
      return {
        files,
        nextCursor: rows.length > limit ? page[page.length - 1].filename : null,
      };
    },
  };
}
