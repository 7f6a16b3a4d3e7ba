/**
 * The markup scan: finds web-page or script markup in the parts of an image that are not pixels
 * (comments, Exif, XMP, text chunks, unknown chunks). Why keep it there, now that data after an
 * image's end is refused by structure: metadata is text that image tools, CMSs and galleries show
 * and copy, sometimes without escaping, so markup stored in it is a stored-XSS payload waiting
 * for a careless viewer. Metadata is small, so the scan is cheap, and it never reads compressed
 * pixels, where genuine photos would spell a marker by chance.
 *
 * @module
 */

/**
 * Markup that makes text dangerous if shown unescaped. `<svg` and `<html` need a following
 * space, `/` or `>`, as real markup has.
 */
const MARKERS: ReadonlyArray<{ text: string; delimited: boolean }> = [
  { text: "<script", delimited: false },
  { text: "<html", delimited: true },
  { text: "<svg", delimited: true },
  { text: "<?php", delimited: false },
  { text: "<!doctype html", delimited: false },
];

const isDelimiter = (byte: number | undefined) =>
  byte === 0x3e || byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d ||
  byte === 0x0c || byte === 0x2f;

/** The bytes that can follow `<` in some marker, lower-cased: one lookup turns most `<` away. */
const SECOND_BYTES = new Set(MARKERS.map((m) => m.text.charCodeAt(1)));

/**
 * The first markup marker in `bytes[start, end)` (case-insensitive), or `undefined`.
 *
 * @example
 * ```ts
 * findMarkup(new TextEncoder().encode("a <SCRIPT>")); // "<script"
 * ```
 */
export function findMarkup(
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
): string | undefined {
  // A view, so that `indexOf` stops at `end`: many small ranges cost their own length only.
  const view = bytes.subarray(start, end);
  for (let at = view.indexOf(0x3c); at !== -1; at = view.indexOf(0x3c, at + 1)) {
    const second = view[at + 1];
    if (!SECOND_BYTES.has(second >= 0x41 && second <= 0x5a ? second + 0x20 : second)) continue;
    for (const { text, delimited } of MARKERS) {
      if (matchesLower(view, at, text) && (!delimited || isDelimiter(view[at + text.length]))) {
        return text;
      }
    }
  }
  return undefined;
}

/**
 * The first marker in any of `ranges` (`[start, end)` pairs, in any order, possibly
 * overlapping). Overlaps are merged first, so no byte is read twice however the ranges repeat.
 */
export function findMarkupIn(
  bytes: Uint8Array,
  ranges: ReadonlyArray<readonly [number, number]>,
): string | undefined {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let from = 0;
  for (const [start, end] of sorted) {
    const begin = Math.max(start, from);
    const stop = Math.min(end, bytes.length);
    if (begin >= stop) continue;
    const found = findMarkup(bytes, begin, stop);
    if (found) return found;
    from = stop;
  }
  return undefined;
}

function matchesLower(bytes: Uint8Array, at: number, text: string): boolean {
  if (at + text.length > bytes.length) return false;
  for (let i = 1; i < text.length; i++) {
    let byte = bytes[at + i];
    if (byte >= 0x41 && byte <= 0x5a) byte += 0x20;
    if (byte !== text.charCodeAt(i)) return false;
  }
  return true;
}
