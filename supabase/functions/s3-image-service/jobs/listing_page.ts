/**
 * The text form of one listing page, as `s3_cache_rebuild_stage_page(…, listing text)` stores it:
 * one line per key, each ended by a newline — key, size in bytes, ETag and LastModified in
 * milliseconds since the Unix epoch, separated by tabs. It is COPY's text format, so Postgres reads
 * it back with plain string functions at finish, and staging a page is one append instead of 1,000
 * typed rows. Milliseconds, not ISO dates: `toISOString()` costs ~1 µs a key, most of the encoding
 * of a 1,000-key page, and this runs inside the edge function's CPU budget.
 *
 * @module
 */

/** What the listing says of one key. */
export interface ListedKey {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

const COPY_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "\t": "\\t",
  "\n": "\\n",
  "\r": "\\r",
};
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const NEEDS_ESCAPE_ALL = /[\\\t\n\r]/g;
const LINE_BREAKING = /[\t\n\r]/g;
const LINE_BREAKING_TEST = /[\t\n\r]/;

/**
 * Writes a key as COPY's text format does. A key that needs it contains a backslash or a control
 * character, which the naming rules refuse: the escaped key is refused too, and counted as skipped,
 * without SQL ever decoding it.
 */
function escapeKey(key: string): string {
  return NEEDS_ESCAPE.test(key) ? key.replace(NEEDS_ESCAPE_ALL, (c) => COPY_ESCAPES[c]) : key;
}

/**
 * Encodes a page for `s3_cache_rebuild_stage_page`.
 *
 * @param keys The page's keys, in listing order.
 * @returns The page's lines, each ended by `\n`; `""` for an empty page.
 *
 * @example
 * ```ts
 * encodeListingPage([{ key: "1.jpg", size: 10, etag: '"e1"', lastModified: new Date(0) }]);
 * // '1.jpg\t10\t"e1"\t0\n'
 * ```
 */
export function encodeListingPage(keys: ReadonlyArray<ListedKey>): string {
  let text = "";
  for (const { key, size, etag, lastModified } of keys) {
    // An ETag is quoted hex on every S3 we know; a stray tab or newline must not break the line.
    const safeEtag = LINE_BREAKING_TEST.test(etag) ? etag.replace(LINE_BREAKING, " ") : etag;
    const millis = lastModified.getTime();
    text += `${escapeKey(key)}\t${size}\t${safeEtag}\t${Number.isNaN(millis) ? "" : millis}\n`;
  }
  return text;
}
