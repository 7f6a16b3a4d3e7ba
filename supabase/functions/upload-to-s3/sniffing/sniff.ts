/**
 * What an uploaded file really is, judged from its bytes alone: the format from its magic bytes,
 * its structure walked to its end by that format's parser (`parsers/`), its width and height, and
 * whether anything else rides along (a polyglot: bytes after the image's end, an archive anywhere
 * in it, or markup: `archives.ts`, `markup.ts`).
 *
 * Accepted: JPEG, PNG, WebP, GIF and AVIF. Everything else, SVG included, is refused.
 *
 * @module
 */
import { ERRORS } from "../../_shared/errors.ts";
import { FORMAT_INFO, IMAGE_FORMATS, type ImageFormat } from "../../_shared/images/formats.ts";
import { ARCHIVE_PAIRS, archiveAt, findArchive } from "./archives.ts";
import { inflateBounded, MAX_INFLATED_BYTES } from "./inflate.ts";
import { findMarkup, findMarkupIn, MARKUP_PAIRS_ANY, markupAt } from "./markup.ts";
import { ascii, type ImageStructure, startsWith, u32be } from "./parsers/common.ts";
import { parseAvif } from "./parsers/avif.ts";
import { parseGif } from "./parsers/gif.ts";
import { parseJpeg } from "./parsers/jpeg.ts";
import { parsePng } from "./parsers/png.ts";
import { parseWebp } from "./parsers/webp.ts";
import { pairScanner } from "./simd/byte_scan.ts";

export { findArchive, findMarkup, FORMAT_INFO, IMAGE_FORMATS, type ImageFormat };

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
  /**
   * Largest width × height accepted (decompression bombs), for the canvas and for every frame,
   * item and track in the file. Default: no ceiling.
   */
  maxPixels?: number;
  /**
   * Most pixels all frames together may decode to: frames × the largest frame's (or canvas's)
   * area, which is what a tool that decodes every frame of an animation allocates. Default:
   * {@linkcode TOTAL_PIXELS_FACTOR} × `maxPixels` (no ceiling without `maxPixels`).
   */
  maxTotalPixels?: number;
  /** Most frames an animation may have. Default: {@linkcode DEFAULT_MAX_FRAMES}. */
  maxFrames?: number;
}

/**
 * Frames × area may be this many times `maxPixels` (default 4 × 40 M = 160 M pixels): a 72-frame
 * 1,000 × 1,000 product turntable passes, a frame bomb (thousands of full-size frames) does not.
 */
export const TOTAL_PIXELS_FACTOR = 4;

/** Default for {@linkcode InspectOptions.maxFrames}: far above any product animation. */
export const DEFAULT_MAX_FRAMES = 1_000;

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
 * Checks a whole file and returns its format and dimensions (the canvas a viewer allocates: for a
 * GIF whose frames stick out of its logical screen, the screen grown to hold them).
 *
 * @throws AppError 400 `empty_file` for zero bytes; 415 `unsupported_media_type` for anything
 * that is not an accepted image (SVG, HTML, HEIC, …); 422 `corrupt_image` for a truncated,
 * malformed or absurdly structured image (too deep, too many parts, compressed text that does not
 * decompress within its bound); 415 `polyglot_refused` for any byte after the image's structural
 * end, a ZIP, RAR or 7z archive anywhere in it, or markup (`markup.ts`: dangerous tags anywhere,
 * event handlers in metadata, any HTML tag in text, decompressed text included); 422
 * `image_too_large` above `maxPixels` (canvas or any
 * frame), `maxTotalPixels` or `maxFrames`. Never anything else, whatever the bytes.
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
  const label = FORMAT_INFO[format].label;
  const image = PARSERS[format](bytes);
  const { width, height } = image;
  if (!(width > 0 && height > 0)) {
    throw ERRORS.CorruptImage(`The ${label} image has no valid width and height`);
  }
  checkMarkup(bytes, image, label);
  checkCeilings(image, options);
  return { format, contentType: FORMAT_INFO[format].contentType, width, height };
}

const PARSERS: Record<ImageFormat, (bytes: Uint8Array) => ImageStructure> = {
  jpeg: parseJpeg,
  png: parsePng,
  webp: parseWebp,
  gif: parseGif,
  avif: parseAvif,
};

const formatCount = (n: number) => n.toLocaleString("en-US");

/** "a JPEG", "an AVIF": the article as the format's name is said. */
const withArticle = (label: string) => `${/^[AEIOU]/.test(label) ? "an" : "a"} ${label}`;

/**
 * Markup anywhere: the most in text, more in other metadata, dangerous markup in every byte
 * (`markup.ts`, {@linkcode ScanLevel}). Compressed text is decompressed first, within
 * {@linkcode MAX_INFLATED_BYTES} for the whole file.
 */
function checkMarkup(bytes: Uint8Array, image: ImageStructure, label: string): void {
  const refuse = (where: string, marker: string) =>
    ERRORS.PolyglotRefused(
      `The file is ${
        withArticle(label)
      } image but its ${where} contains "${marker}" (web page or script code); save the image again from an image editor and upload that`,
    );
  const inMetadata = findMarkupIn(bytes, image.text ?? [], "text") ??
    findMarkupIn(bytes, image.metadata, "metadata");
  if (inMetadata) throw refuse("metadata", inMetadata);
  const budget = { left: MAX_INFLATED_BYTES };
  for (const { start, end, text } of image.compressed ?? []) {
    const what = text ? "a compressed text chunk" : "a compressed ICC profile";
    const inflated = inflateBounded(bytes.subarray(start, end), budget, { label, what });
    const marker = findMarkup(inflated, { level: text ? "text" : "metadata" });
    if (marker) throw refuse(text ? "compressed text" : "compressed ICC profile", marker);
  }
  checkEveryByte(bytes, label);
}

/** Where either scan that reads every byte could find something (`(a << 8) | b` of two bytes). */
const EVERY_BYTE_PAIRS = MARKUP_PAIRS_ANY.map((markup, pair) => markup | ARCHIVE_PAIRS[pair]);

/** Every offset where two bytes could start an archive or a marker (simd/byte_scan.ts). */
const everyBytePair = pairScanner(EVERY_BYTE_PAIRS);

/**
 * Archives and dangerous markup anywhere in the file, pixels included, in one pass: the only
 * checks that read every byte, so they share the loop.
 */
function checkEveryByte(bytes: Uint8Array, label: string): void {
  const range = { start: 0, end: bytes.length, level: "any" } as const;
  everyBytePair(bytes, (at) => {
    const archive = archiveAt(bytes, at);
    if (archive) {
      throw ERRORS.PolyglotRefused(
        `The file is ${
          withArticle(label)
        } image but also holds a ${archive} archive (at byte ${at}); save the image again from an image editor and upload that`,
      );
    }
    const marker = markupAt(bytes, bytes[at + 1] === 0x3a ? at + 1 : at, range);
    if (marker) {
      throw ERRORS.PolyglotRefused(
        `The file is ${
          withArticle(label)
        } image but its image data contains "${marker}" (web page or script code); save the image again from an image editor and upload that`,
      );
    }
  });
}

/** The pixel ceilings: the canvas, the largest frame, the frame count, frames × area. */
function checkCeilings(image: ImageStructure, options: InspectOptions): void {
  const { maxPixels } = options;
  const maxFrames = options.maxFrames ?? DEFAULT_MAX_FRAMES;
  if (image.frames > maxFrames) {
    throw ERRORS.ImageTooLarge(
      `The animation has ${formatCount(image.frames)} frames; at most ${
        formatCount(maxFrames)
      } are accepted, so shorten it`,
    );
  }
  if (maxPixels !== undefined) {
    for (const [what, size] of [["image", image], ["largest frame", image.largest]] as const) {
      const area = size.width * size.height;
      if (area > maxPixels) {
        throw ERRORS.ImageTooLarge(
          `The ${what} is ${size.width} × ${size.height} pixels (${formatCount(area)}); at most ${
            formatCount(maxPixels)
          } pixels are accepted, so scale it down`,
        );
      }
    }
  }
  const maxTotal = options.maxTotalPixels ??
    (maxPixels === undefined ? undefined : TOTAL_PIXELS_FACTOR * maxPixels);
  const frameArea = Math.max(
    image.width * image.height,
    image.largest.width * image.largest.height,
  );
  if (maxTotal !== undefined && image.frames * frameArea > maxTotal) {
    throw ERRORS.ImageTooLarge(
      `The animation decodes to ${formatCount(image.frames * frameArea)} pixels (${
        formatCount(image.frames)
      } frames of up to ${formatCount(frameArea)}); at most ${
        formatCount(maxTotal)
      } are accepted, so use fewer or smaller frames`,
    );
  }
}

// ── Refusal messages and detection helpers ──────────────────────────────────────────────────

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

function isAvif(head: Uint8Array): boolean {
  if (head.length < 16 || ascii(head, 4, 4) !== "ftyp") return false;
  const boxSize = Math.min(u32be(head, 0), head.length);
  if (boxSize < 16) return false;
  const brands = [ascii(head, 8, 4)];
  for (let at = 16; at + 4 <= boxSize; at += 4) brands.push(ascii(head, at, 4));
  return brands.includes("avif") || brands.includes("avis");
}
