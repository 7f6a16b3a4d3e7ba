/**
 * The key an uploaded image is stored under: the caller's name checked with the same rules as
 * the SQL API (`filename.ts`), normalised so the same name always gives the same key.
 *
 * @module
 */
import { ERRORS } from "../http/errors.ts";
import { extensionOf, filenameProblem, quoteName } from "./names.ts";

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
