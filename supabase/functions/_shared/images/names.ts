/**
 * Product image names: the same rules, in the same order and with the same words, as the SQL
 * API's `public.s3_cache_filename_problem()`, so a name is judged alike in psql, in an upload and
 * in a bucket listing. An integration test holds the two in step.
 *
 * It also turns a caller's name into the key an image is stored under ({@linkcode imageKey}).
 *
 * @module
 */
import { ERRORS } from "../http/errors.ts";
import { IMAGE_EXTENSIONS } from "./formats.ts";

const ALLOWED_EXTENSIONS_PROBLEM = (() => {
  const names = Object.keys(IMAGE_EXTENSIONS).map((extension) => `.${extension}`);
  return `only ${names.slice(0, -1).join(", ")} and ${names.at(-1)} images are allowed`;
})();

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
    return ALLOWED_EXTENSIONS_PROBLEM;
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

/**
 * The storage key for `name`: Unicode NFC (a name typed on a Mac and on Windows is one key) and
 * a lower-case extension (`14000.JPG` → `14000.jpg`, since the storefront asks for `.jpg`).
 *
 * @throws AppError 400 `invalid_filename` with the SQL API's reason.
 *
 * @example
 * ```ts
 * imageKey("14000.JPG"); // "14000.jpg"
 * imageKey("../x.jpg"); // throws: Cannot upload "../x.jpg": path segments are not allowed
 * ```
 */
export function imageKey(name: string): string {
  const normalised = name.normalize("NFC");
  const extension = extensionOf(normalised);
  const key = extension
    ? `${normalised.slice(0, normalised.length - extension.length)}${extension}`
    : normalised;
  const problem = filenameProblem(key);
  if (problem) {
    throw ERRORS.NameInvalid(
      key === ""
        ? `Cannot upload the file: ${problem}`
        : `Cannot upload "${quoteName(key)}": ${problem}`,
    );
  }
  return key;
}

/** The key with its extension replaced by `extension` (for "rename it to …" advice). */
export function withExtension(key: string, extension: string): string {
  const dot = key.lastIndexOf(".");
  return `${dot === -1 ? key : key.slice(0, dot)}.${extension}`;
}
