/**
 * Archives hidden inside an image: a ZIP (and so a JAR, DOCX, APK), RAR or 7z anywhere in the
 * file, in a PNG chunk, a JPEG comment, an AVIF `free` box or the pixel data. ZIP readers find an
 * archive by its end record wherever it sits, so a ZIP whose end-of-central-directory comment
 * covers the image's tail unpacks from a file that is also a valid image; RAR and 7-Zip look for
 * their signature at any offset.
 *
 * A ZIP signature is four bytes, which compressed pixels spell by chance about once in 2 GiB; it
 * counts only when the header after it is one a ZIP reader would take (a known compression method
 * and a name that fits, or an end record whose central directory lies before it), which chance
 * spells about never. RAR's and 7z's six-byte signatures count alone.
 *
 * @module
 */
import { u16le, u32le } from "./parsers/common.ts";

/** An archive found in a file: its kind and the offset of its signature. */
export interface ArchiveFound {
  kind: "ZIP" | "RAR" | "7z";
  at: number;
}

/** ZIP compression methods in use (APPNOTE 4.4.5): stored, deflate, deflate64, bzip2, LZMA, … */
const ZIP_METHODS = new Set([0, 1, 6, 8, 9, 12, 14, 19, 93, 95, 96, 97, 98, 99]);

const RAR = [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07]; // "Rar!" 1A 07 (RAR 4 and 5)
const SEVEN_ZIP = [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]; // "7z" BC AF 27 1C

/**
 * The first archive in `bytes`, or `undefined`.
 *
 * @example
 * ```ts
 * findArchive(concat(png, zip)); // { kind: "ZIP", at: png.length }
 * ```
 */
export function findArchive(bytes: Uint8Array): ArchiveFound | undefined {
  for (let at = 0; at < bytes.length; at++) {
    if (ARCHIVE_ANCHORS[bytes[at]] === 0) continue;
    const kind = archiveAt(bytes, at);
    if (kind) return { kind, at };
  }
  return undefined;
}

/** The first bytes of the signatures {@linkcode archiveAt} knows: `P`, `R`, `7`. */
const ARCHIVE_ANCHORS = new Uint8Array(256);
ARCHIVE_ANCHORS[0x50] = ARCHIVE_ANCHORS[RAR[0]] = ARCHIVE_ANCHORS[SEVEN_ZIP[0]] = 1;

/**
 * For a loop that reads every byte once: `ARCHIVE_PAIRS[(a << 8) | b]` is 1 when a signature
 * {@linkcode archiveAt} knows starts with the two bytes `a b` (`PK`, `Ra`, `7z`).
 */
export const ARCHIVE_PAIRS = new Uint8Array(65_536);
for (const [first, second] of [[0x50, 0x4b], RAR, SEVEN_ZIP]) {
  ARCHIVE_PAIRS[(first << 8) | second] = 1;
}

/**
 * The kind of archive whose signature starts at `at`, if any: the step of
 * {@linkcode findArchive}, for a caller that walks the bytes itself (one pass for several scans).
 */
export function archiveAt(bytes: Uint8Array, at: number): ArchiveFound["kind"] | undefined {
  switch (bytes[at]) {
    case 0x50:
      return bytes[at + 1] === 0x4b && isZipHeader(bytes, at) ? "ZIP" : undefined;
    case RAR[0]:
      return matches(bytes, at, RAR) ? "RAR" : undefined;
    case SEVEN_ZIP[0]:
      return matches(bytes, at, SEVEN_ZIP) ? "7z" : undefined;
  }
  return undefined;
}

function matches(bytes: Uint8Array, at: number, signature: readonly number[]): boolean {
  if (at + signature.length > bytes.length) return false;
  for (let i = 1; i < signature.length; i++) if (bytes[at + i] !== signature[i]) return false;
  return true;
}

/** `PK` 03 04 with a plausible local file header, or `PK` 05 06 with a plausible end record. */
function isZipHeader(bytes: Uint8Array, at: number): boolean {
  const kind = (bytes[at + 2] << 8) | bytes[at + 3];
  if (kind === 0x0304) {
    if (at + 30 > bytes.length) return false;
    const versionNeeded = bytes[at + 4];
    const method = u16le(bytes, at + 8);
    const nameLength = u16le(bytes, at + 26);
    const extraLength = u16le(bytes, at + 28);
    return versionNeeded <= 63 && ZIP_METHODS.has(method) && nameLength > 0 &&
      at + 30 + nameLength + extraLength <= bytes.length;
  }
  if (kind === 0x0506) {
    if (at + 22 > bytes.length) return false;
    const entriesHere = u16le(bytes, at + 8);
    const entries = u16le(bytes, at + 10);
    const directorySize = u32le(bytes, at + 12);
    const directoryOffset = u32le(bytes, at + 16);
    if (entriesHere > entries) return false;
    if (directoryOffset === 0xffffffff) return true; // ZIP64: the real values are elsewhere
    // The central directory precedes its end record (offsets may count from the archive's own
    // start, later than the file's, so only an upper bound holds).
    return directorySize <= at && directoryOffset <= at - directorySize;
  }
  return false;
}
