/**
 * Product image names: the same rules, in the same order and with the same words, as the SQL
 * API's `public.s3_cache_filename_problem()`, so a name is judged alike in psql, in an upload and
 * in a bucket listing. An integration test holds the two in step.
 *
 * @module
 */

/** Image extensions we accept, lower case, and the content type each implies. */
export const IMAGE_EXTENSIONS: Readonly<Record<string, string>> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
  avif: "image/avif",
};

/** Longest accepted name, in characters (the column is varchar(255)). */
export const MAX_FILENAME_LENGTH = 255;

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Why `filename` cannot name a product image, or `undefined` when it can.
 *
 * @example
 * ```ts
 * filenameProblem("a/../b.jpg"); // "path segments are not allowed"
 * filenameProblem("14000.jpg"); // undefined
 * ```
 */
export function filenameProblem(filename: string | null | undefined): string | undefined {
  if (filename === null || filename === undefined || filename === "") return "the name is empty";
  if ([...filename].length > MAX_FILENAME_LENGTH) {
    return `the name is longer than ${MAX_FILENAME_LENGTH} characters`;
  }
  if (filename.includes("/") || filename.includes("\\") || filename.includes("..")) {
    return "path segments are not allowed";
  }
  if (CONTROL.test(filename)) return "control characters are not allowed";
  if (filename.trim() !== filename) return "leading or trailing spaces are not allowed";
  if (!(extensionOf(filename) in IMAGE_EXTENSIONS)) {
    return "only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed";
  }
  return undefined;
}

/** The lower-cased extension after the last dot, or "" when there is none. */
export function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf(".");
  return dot === -1 ? "" : filename.slice(dot + 1).toLowerCase();
}

/** The content type a name implies (`14000.JPG` → `image/jpeg`), or undefined. */
export function contentTypeForName(filename: string): string | undefined {
  return IMAGE_EXTENSIONS[extensionOf(filename)];
}

/** How an error message quotes a name: the first 40 characters of an over-long one. */
export function quoteName(filename: string): string {
  const characters = [...filename];
  return characters.length > MAX_FILENAME_LENGTH
    ? `${characters.slice(0, 40).join("")}…`
    : filename;
}
