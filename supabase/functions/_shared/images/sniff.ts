/**
 * What an uploaded file really is, judged from its bytes alone: the format from its magic bytes,
 * its width and height from the header, whether it is complete (a truncated upload is refused),
 * and whether anything else rides along (a polyglot: an image that is also HTML, SVG or PHP).
 *
 * Accepted: JPEG, PNG, WebP, GIF and AVIF. Everything else, SVG included, is refused.
 *
 * @module
 */
import { ERRORS } from "../http/errors.ts";
import { FORMAT_INFO, IMAGE_FORMATS, type ImageFormat } from "./formats.ts";

export { FORMAT_INFO, IMAGE_FORMATS, type ImageFormat };

/** A file that passed every check. */
export interface ImageInfo {
  format: ImageFormat;
  contentType: string;
  width: number;
  height: number;
}

/** Options for {@linkcode inspectImage}. */
export interface InspectOptions {
  /** Formats to accept. Default: all of {@linkcode IMAGE_FORMATS}. */
  allowed?: readonly ImageFormat[];
  /** Largest width × height accepted (decompression bombs). Default: no ceiling. */
  maxPixels?: number;
}

/**
 * The format `head` (the first bytes of a file, 32 are enough) announces, or `undefined`.
 *
 * @example
 * ```ts
 * detectFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])); // "jpeg"
 * ```
 */
export function detectFormat(head: Uint8Array): ImageFormat | undefined {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return "jpeg";
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (ascii(head, 0, 4) === "RIFF" && ascii(head, 8, 4) === "WEBP") return "webp";
  if (ascii(head, 0, 6) === "GIF87a" || ascii(head, 0, 6) === "GIF89a") return "gif";
  if (isAvif(head)) return "avif";
  return undefined;
}

/**
 * Checks a whole file and returns its format and dimensions.
 *
 * @throws AppError 400 `empty_file` for zero bytes; 415 `unsupported_media_type` for anything
 * that is not an accepted image (SVG, HTML, HEIC, …); 422 `corrupt_image` for a truncated or
 * malformed image; 415 `polyglot_refused` for data after the image's end or markup (`<script`,
 * `<html`, `<svg`, `<?php`, `<!doctype html`) anywhere in the bytes; 422 `image_too_large` above
 * `maxPixels`.
 *
 * @example
 * ```ts
 * const { contentType, width, height } = inspectImage(bytes, { maxPixels: 40_000_000 });
 * ```
 */
export function inspectImage(bytes: Uint8Array, options: InspectOptions = {}): ImageInfo {
  if (bytes.length === 0) throw ERRORS.EmptyFile();
  const format = detectFormat(bytes);
  if (!format) throw ERRORS.UnsupportedMediaType(unsupportedMessage(bytes));
  const allowed = options.allowed ?? IMAGE_FORMATS;
  if (!allowed.includes(format)) {
    throw ERRORS.UnsupportedMediaType(
      `${FORMAT_INFO[format].label} images are not accepted here; upload ${
        allowed.map((f) => FORMAT_INFO[f].label).join(", ")
      }`,
    );
  }
  const { width, height } = PARSERS[format](bytes);
  if (!(width > 0 && height > 0)) {
    throw ERRORS.CorruptImage(
      `The ${FORMAT_INFO[format].label} image has no valid width and height`,
    );
  }
  const marker = findMarkup(bytes);
  if (marker) {
    throw ERRORS.PolyglotRefused(
      `The file is a ${
        FORMAT_INFO[format].label
      } image but also contains "${marker}" (web page or script code); save the image again from an image editor and upload that`,
    );
  }
  if (options.maxPixels !== undefined && width * height > options.maxPixels) {
    throw ERRORS.ImageTooLarge(
      `The image is ${width} × ${height} pixels (${
        (width * height).toLocaleString("en-US")
      }); at most ${
        options.maxPixels.toLocaleString("en-US")
      } pixels are accepted, so scale it down`,
    );
  }
  return { format, contentType: FORMAT_INFO[format].contentType, width, height };
}

// ── Markup scan ──────────────────────────────────────────────────────────────────────────────

/**
 * Markup that makes a file dangerous if any browser or server ever treats it as a page. `<svg`
 * and `<html` need a following space or `>`, which real markup has and which keeps the chance
 * of a false alarm in compressed pixel data around 1 in 20,000 per megabyte.
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

/**
 * The bytes that can follow `<` in some marker, lower-cased: compressed pixel data holds a `<`
 * every ~200 bytes, and this one lookup turns almost all of them away before any comparison.
 */
const SECOND_BYTES = new Set(MARKERS.map((m) => m.text.charCodeAt(1)));

/** The first markup marker in `bytes` (case-insensitive), or `undefined`. */
export function findMarkup(bytes: Uint8Array): string | undefined {
  for (let at = bytes.indexOf(0x3c); at !== -1; at = bytes.indexOf(0x3c, at + 1)) {
    const second = bytes[at + 1];
    if (!SECOND_BYTES.has(second >= 0x41 && second <= 0x5a ? second + 0x20 : second)) continue;
    for (const { text, delimited } of MARKERS) {
      if (matchesLower(bytes, at, text) && (!delimited || isDelimiter(bytes[at + text.length]))) {
        return text;
      }
    }
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

function unsupportedMessage(bytes: Uint8Array): string {
  const start = new TextDecoder().decode(bytes.subarray(0, 1024)).trimStart().toLowerCase();
  const accepted = "upload a JPEG, PNG, WebP, GIF or AVIF image";
  if (start.includes("<svg")) {
    return `SVG images are not accepted (they can carry scripts); ${accepted}`;
  }
  if (
    start.startsWith("<!doctype html") || start.startsWith("<html") || start.includes("<script")
  ) {
    return `The file is a web page (HTML), not an image; ${accepted}`;
  }
  if (start.startsWith("<?xml") || start.startsWith("<")) {
    return `The file is text (XML or HTML), not an image; ${accepted}`;
  }
  if (ascii(bytes, 4, 4) === "ftyp") {
    return `The file's format (${ascii(bytes, 8, 4).trim()}) is not accepted; ${accepted}`;
  }
  return `The file is not an image we accept; ${accepted}`;
}

// ── Format parsers: dimensions, completeness, trailing data ──────────────────────────────────

type Dimensions = { width: number; height: number };

const PARSERS: Record<ImageFormat, (bytes: Uint8Array) => Dimensions> = {
  jpeg: parseJpeg,
  png: parsePng,
  webp: parseWebp,
  gif: parseGif,
  avif: parseAvif,
};

const truncated = (label: string) =>
  ERRORS.CorruptImage(
    `The ${label} image is incomplete (the upload may have been cut off); upload the whole file again`,
  );

const malformed = (label: string, detail: string) =>
  ERRORS.CorruptImage(`The ${label} image is damaged: ${detail}`);

const trailing = (label: string, extra: number) =>
  ERRORS.PolyglotRefused(
    `The ${label} image has ${extra} extra bytes after its end (another file appended to it); save the image again from an image editor and upload that`,
  );

/** PNG: signature, IHDR first, chunks walked to IEND, nothing after IEND. */
function parsePng(bytes: Uint8Array): Dimensions {
  const label = "PNG";
  let at = 8;
  let dimensions: Dimensions | undefined;
  for (;;) {
    if (at + 12 > bytes.length) throw truncated(label);
    const length = u32be(bytes, at);
    const type = ascii(bytes, at + 4, 4);
    if (length > 0x7fffffff) throw malformed(label, `chunk "${type}" has an impossible length`);
    if (!dimensions) {
      if (type !== "IHDR" || length < 13) throw malformed(label, "it does not start with IHDR");
      if (at + 16 > bytes.length) throw truncated(label);
      dimensions = { width: u32be(bytes, at + 8), height: u32be(bytes, at + 12) };
    }
    const end = at + 12 + length;
    if (end > bytes.length) throw truncated(label);
    if (type === "IEND") {
      if (end < bytes.length) throw trailing(label, bytes.length - end);
      return dimensions;
    }
    at = end;
  }
}

/** GIF: header and logical screen, then blocks walked to the trailer, nothing after it. */
function parseGif(bytes: Uint8Array): Dimensions {
  const label = "GIF";
  if (bytes.length < 13) throw truncated(label);
  const dimensions = { width: u16le(bytes, 6), height: u16le(bytes, 8) };
  let at = 13;
  const flags = bytes[10];
  if (flags & 0x80) at += 3 * (1 << ((flags & 0x07) + 1));
  const skipSubBlocks = () => {
    for (;;) {
      if (at >= bytes.length) throw truncated(label);
      const size = bytes[at++];
      if (size === 0) return;
      at += size;
    }
  };
  for (;;) {
    if (at >= bytes.length) throw truncated(label);
    const block = bytes[at++];
    if (block === 0x3b) {
      if (at < bytes.length) throw trailing(label, bytes.length - at);
      return dimensions;
    } else if (block === 0x21) {
      at++; // extension label
      skipSubBlocks();
    } else if (block === 0x2c) {
      if (at + 9 > bytes.length) throw truncated(label);
      const localFlags = bytes[at + 8];
      at += 9;
      if (localFlags & 0x80) at += 3 * (1 << ((localFlags & 0x07) + 1));
      at++; // LZW minimum code size
      skipSubBlocks();
    } else {
      throw malformed(label, `unknown block 0x${block.toString(16)} at byte ${at - 1}`);
    }
  }
}

const SOF_MARKERS = new Set([
  0xc0,
  0xc1,
  0xc2,
  0xc3,
  0xc5,
  0xc6,
  0xc7,
  0xc9,
  0xca,
  0xcb,
  0xcd,
  0xce,
  0xcf,
]);

/**
 * JPEG: segments walked from SOI through every scan to EOI; the frame header (SOFn) gives the
 * size. Bytes after EOI are allowed (phones store a second picture there, as MPF), the markup
 * scan still covers them.
 */
function parseJpeg(bytes: Uint8Array): Dimensions {
  const label = "JPEG";
  let at = 2;
  let dimensions: Dimensions | undefined;
  for (;;) {
    if (at + 2 > bytes.length) throw truncated(label);
    if (bytes[at] !== 0xff) throw malformed(label, `no marker at byte ${at}`);
    const marker = bytes[at + 1];
    if (marker === 0xff) { // fill byte
      at++;
      continue;
    }
    at += 2;
    if (marker === 0xd9) {
      if (!dimensions) throw malformed(label, "it has no frame header");
      return dimensions;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (at + 2 > bytes.length) throw truncated(label);
    const length = u16be(bytes, at);
    if (length < 2) throw malformed(label, `segment 0x${marker.toString(16)} is too short`);
    if (at + length > bytes.length) throw truncated(label);
    if (SOF_MARKERS.has(marker)) {
      if (length < 7) throw malformed(label, "the frame header is too short");
      dimensions = { height: u16be(bytes, at + 3), width: u16be(bytes, at + 5) };
    }
    at += length;
    if (marker === 0xda) at = skipEntropyCodedData(bytes, at, label);
  }
}

/** From the start of scan data, the offset of the next marker (not a stuffed 0xFF00 or RSTn). */
function skipEntropyCodedData(bytes: Uint8Array, from: number, label: string): number {
  for (let at = bytes.indexOf(0xff, from); at !== -1; at = bytes.indexOf(0xff, at + 1)) {
    if (at + 1 >= bytes.length) break;
    const next = bytes[at + 1];
    if (next === 0x00 || next === 0xff || (next >= 0xd0 && next <= 0xd7)) continue;
    return at;
  }
  throw truncated(label);
}

/** WebP: the RIFF size must match the file; VP8, VP8L or VP8X gives the size. */
function parseWebp(bytes: Uint8Array): Dimensions {
  const label = "WebP";
  if (bytes.length < 12) throw truncated(label);
  const riffEnd = 8 + u32le(bytes, 4);
  if (riffEnd > bytes.length) throw truncated(label);
  if (riffEnd < bytes.length) throw trailing(label, bytes.length - riffEnd);
  let at = 12;
  let dimensions: Dimensions | undefined;
  while (at < riffEnd) {
    if (at + 8 > riffEnd) throw truncated(label);
    const type = ascii(bytes, at, 4);
    const size = u32le(bytes, at + 4);
    const data = at + 8;
    if (data + size > riffEnd) throw truncated(label);
    if (!dimensions) {
      if (type === "VP8X" && size >= 10) {
        dimensions = { width: 1 + u24le(bytes, data + 4), height: 1 + u24le(bytes, data + 7) };
      } else if (type === "VP8 " && size >= 10) {
        if (!startsWith(bytes.subarray(data + 3), [0x9d, 0x01, 0x2a])) {
          throw malformed(label, "the VP8 frame has no start code");
        }
        dimensions = {
          width: u16le(bytes, data + 6) & 0x3fff,
          height: u16le(bytes, data + 8) & 0x3fff,
        };
      } else if (type === "VP8L" && size >= 5) {
        if (bytes[data] !== 0x2f) throw malformed(label, "the VP8L stream has no signature");
        const bits = u32le(bytes, data + 1);
        dimensions = { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) };
      } else {
        throw malformed(label, `it starts with an unexpected "${type.trim()}" chunk`);
      }
    }
    at = data + size + (size & 1);
  }
  if (!dimensions) throw malformed(label, "it has no image data");
  return dimensions;
}

function isAvif(head: Uint8Array): boolean {
  if (head.length < 16 || ascii(head, 4, 4) !== "ftyp") return false;
  const boxSize = Math.min(u32be(head, 0), head.length);
  if (boxSize < 16) return false;
  const brands = [ascii(head, 8, 4)];
  for (let at = 16; at + 4 <= boxSize; at += 4) brands.push(ascii(head, at, 4));
  return brands.includes("avif") || brands.includes("avis");
}

const CONTAINER_BOXES = new Set(["meta", "iprp", "ipco"]);

/** Boxes an AVIF file may hold at its top level; anything else there is not part of the image. */
const TOP_LEVEL_BOXES = new Set([
  "ftyp",
  "meta",
  "mdat",
  "moov",
  "moof",
  "mfra",
  "free",
  "skip",
  "uuid",
  "styp",
  "sidx",
  "idat",
]);

/**
 * AVIF (ISO BMFF): top-level boxes must tile the file exactly; the size is the largest `ispe`
 * (image spatial extents) property, which is the full canvas for grids and never less than the
 * primary image — the safe choice for the pixel ceiling.
 */
function parseAvif(bytes: Uint8Array): Dimensions {
  const label = "AVIF";
  let best: Dimensions | undefined;
  const walk = (start: number, end: number, topLevel: boolean): void => {
    let at = start;
    while (at < end) {
      if (at + 8 > end) throw topLevel ? truncated(label) : malformed(label, "a box is cut");
      let size = u32be(bytes, at);
      const type = ascii(bytes, at + 4, 4);
      if (topLevel && !TOP_LEVEL_BOXES.has(type)) throw trailing(label, bytes.length - at);
      if (!/^[a-zA-Z0-9 ]{4}$/.test(type)) {
        throw malformed(label, `box at byte ${at} has no valid type`);
      }
      let header = 8;
      if (size === 1) {
        if (at + 16 > end) throw truncated(label);
        size = u32be(bytes, at + 8) * 2 ** 32 + u32be(bytes, at + 12);
        header = 16;
      } else if (size === 0) {
        size = end - at; // to the end of the file
      }
      if (size < header) throw malformed(label, `box "${type}" has an impossible size`);
      if (at + size > end) throw topLevel ? truncated(label) : malformed(label, "a box is cut");
      const body = at + header;
      if (type === "ispe" && size >= header + 12) {
        const found = { width: u32be(bytes, body + 4), height: u32be(bytes, body + 8) };
        if (!best || found.width * found.height > best.width * best.height) best = found;
      } else if (CONTAINER_BOXES.has(type)) {
        walk(type === "meta" ? body + 4 : body, at + size, false);
      }
      at += size;
    }
  };
  walk(0, bytes.length, true);
  if (!best) throw malformed(label, "it has no image size (ispe) property");
  return best;
}

// ── Byte helpers ─────────────────────────────────────────────────────────────────────────────

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);
}

function ascii(bytes: Uint8Array, at: number, length: number): string {
  let text = "";
  for (let i = at; i < at + length && i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

const u16be = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
const u16le = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
const u24le = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
const u32be = (b: Uint8Array, at: number) =>
  ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
const u32le = (b: Uint8Array, at: number) =>
  b[at] + (b[at + 1] << 8) + (b[at + 2] << 16) + ((b[at + 3] << 24) >>> 0);
