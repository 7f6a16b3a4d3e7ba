/**
 * Product image names: the same rules, in the same order and with the same words, as the SQL
 * API's `public.s3_cache_filename_problem()`, so a name is judged alike in psql, in an upload and
 * in a bucket listing. One corpus (tests/corpus/filenames.tsv) runs through both.
 *
 * It also turns a caller's name into the key an image is stored under ({@linkcode imageKey}).
 *
 * @module
 */
import { ERRORS } from "../errors.ts";
import { IMAGE_EXTENSIONS } from "./formats.ts";

const ALLOWED_EXTENSIONS_PROBLEM = (() => {
  const names = Object.keys(IMAGE_EXTENSIONS).map((extension) => `.${extension}`);
  return `only ${names.slice(0, -1).join(", ")} and ${names.at(-1)} images are allowed`;
})();

/** Longest accepted name in UTF-8 bytes: a direct upload's staging key adds 60 bytes, S3 allows 1,024. */
export const MAX_FILENAME_BYTES = 255;

// Code points that make a name lie when displayed or break a path. Ranges as in the corpus header.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const ZERO_WIDTH = /[\u200b-\u200d\u2060\ufeff]/;
const encoder = new TextEncoder();

/**
 * Why `filename` cannot name a product image, or `undefined` when it can. The rules apply to the
 * name's NFC form, in this order (the first that applies is the answer): empty, over 255 UTF-8
 * bytes, path parts, a leading dot, control, bidirectional and zero-width characters, leading or
 * trailing white space, an extension that is not an image's (compared in ASCII only). The same
 * words as SQL's `s3_cache_filename_problem()`; tests/corpus/filenames.tsv holds both to it.
 *
 * @example
 * ```ts
 * filenameProblem("a/../b.jpg"); // "path segments are not allowed"
 * filenameProblem("14000.jpg"); // undefined
 * ```
 */
export function filenameProblem(filename: string | null | undefined): string | undefined {
  if (filename === null || filename === undefined || filename === "") return "the name is empty";
  const name = filename.normalize("NFC");
  if (encoder.encode(name).length > MAX_FILENAME_BYTES) {
    return `the name is longer than ${MAX_FILENAME_BYTES} bytes`;
  }
  if (name.includes("/") || name.includes("\\") || name.includes("..")) {
    return "path segments are not allowed";
  }
  if (name.startsWith(".")) return "the name must not start with a dot";
  if (CONTROL.test(name)) return "control characters are not allowed";
  if (BIDI.test(name)) return "bidirectional control characters are not allowed";
  if (ZERO_WIDTH.test(name)) return "zero-width characters are not allowed";
  if (name.trim() !== name) return "leading or trailing spaces are not allowed";
  if (!(extensionOf(name) in IMAGE_EXTENSIONS)) return ALLOWED_EXTENSIONS_PROBLEM;
  return undefined;
}

/**
 * The extension after the last dot, lower-cased in ASCII only (so `x.gİf` stays `gİf` and is
 * refused, whatever a locale would make of it), or "" when there is none.
 */
export function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf(".");
  return dot === -1 ? "" : filename.slice(dot + 1).replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The content type a name implies (`14000.JPG` → `image/jpeg`), or undefined. */
export function contentTypeForName(filename: string): string | undefined {
  return IMAGE_EXTENSIONS[extensionOf(filename)];
}

/** How an error message quotes a name: the first 40 characters of an over-long one. */
export function quoteName(filename: string): string {
  return encoder.encode(filename).length > MAX_FILENAME_BYTES
    ? `${[...filename].slice(0, 40).join("")}…`
    : filename;
}

/**
 * The stored form of a valid name: NFC with the extension in lower case (`Café.JPG` →
 * `Café.jpg`), as SQL's `s3_cache_normalize_filename()`; undefined for an invalid name.
 */
export function normalizeFilename(filename: string): string | undefined {
  if (filenameProblem(filename) !== undefined) return undefined;
  const name = filename.normalize("NFC");
  const extension = extensionOf(name);
  return `${name.slice(0, name.length - extension.length)}${extension}`;
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
  const key = normalizeFilename(name);
  if (key !== undefined) return key;
  const problem = filenameProblem(name);
  throw ERRORS.NameInvalid(
    name === ""
      ? `Cannot upload the file: ${problem}`
      : `Cannot upload "${quoteName(name)}": ${problem}`,
  );
}

/** The key with its extension replaced by `extension` (for "rename it to …" advice). */
export function withExtension(key: string, extension: string): string {
  const dot = key.lastIndexOf(".");
  return `${dot === -1 ? key : key.slice(0, dot)}.${extension}`;
}
