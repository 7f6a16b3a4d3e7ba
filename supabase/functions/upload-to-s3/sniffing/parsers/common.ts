/**
 * What every format parser shares: the shape of its answer, the limits that keep any input
 * (however hostile) a bounded, linear walk, the errors it throws and byte readers.
 *
 * @module
 */
import { ERRORS } from "../../../_shared/errors.ts";

/** A width and a height in pixels. */
export interface Size {
  width: number;
  height: number;
}

/** What a parser found walking a whole file. */
export interface ImageStructure {
  /** The canvas a viewer allocates (the size reported to the caller). */
  width: number;
  height: number;
  /** The largest single frame, item or canvas in the file: the per-frame pixel ceiling's input. */
  largest: Size;
  /** Frames a decoder renders: 1 for a still image, the frame or sample count of an animation. */
  frames: number;
  /**
   * Byte ranges `[start, end)` that are not compressed pixel data (metadata, comments, unknown
   * chunks, box structure): the markup scan reads these, never the pixels.
   */
  metadata: Array<[number, number]>;
  /**
   * Ranges of text that people and tools read (comments, text chunks, XMP packets), inside
   * `metadata`: the markup scan looks for every HTML tag there, not only dangerous ones.
   */
  text?: Array<[number, number]>;
  /**
   * zlib streams in metadata (PNG `zTXt`, compressed `iTXt`, `iCCP`): decompressed within a bound
   * and scanned as text (`text: true`) or as other metadata.
   */
  compressed?: Array<{ start: number; end: number; text: boolean }>;
}

/**
 * Most chunks, segments, blocks or boxes one file may have. Real images have tens to a few
 * thousand (a 10 MiB PNG written in 8 KiB IDAT chunks has ~1,300); the limit stops a file made of
 * nothing but empty parts from costing a walk per byte.
 */
export const MAX_PARTS = 100_000;

/** Deepest box nesting accepted in ISO BMFF (AVIF); real files nest about 7 deep. */
export const MAX_BOX_DEPTH = 16;

/** A parser's running count of parts, throwing once a file has more than {@linkcode MAX_PARTS}. */
export function partCounter(label: string, what: string): () => void {
  let parts = 0;
  return () => {
    if (++parts > MAX_PARTS) {
      throw malformed(label, `it has more than ${MAX_PARTS.toLocaleString("en-US")} ${what}`);
    }
  };
}

/** The larger (by area) of `a` and `b`. */
export function larger(a: Size, b: Size): Size {
  return b.width * b.height > a.width * a.height ? b : a;
}

/** 422: the file stops before its structure ends. */
export const truncated = (label: string) =>
  ERRORS.CorruptImage(
    `The ${label} image is incomplete (the upload may have been cut off); upload the whole file again`,
  );

/** 422: the structure is broken; `detail` says where. */
export const malformed = (label: string, detail: string) =>
  ERRORS.CorruptImage(`The ${label} image is damaged: ${detail}`);

/** 415: bytes after the image's structural end (another file appended to it). */
export const trailing = (label: string, extra: number) =>
  ERRORS.PolyglotRefused(
    `The ${label} image has ${extra} extra bytes after its end (another file appended to it); save the image again from an image editor and upload that`,
  );

/** `length` bytes at `at` as Latin-1 text (four-character codes). */
export function ascii(bytes: Uint8Array, at: number, length: number): string {
  let text = "";
  for (let i = at; i < at + length && i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

/** Whether `bytes` starts with `prefix`. */
export function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);
}

/** Big-endian unsigned 16 bits. */
export const u16be = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
/** Little-endian unsigned 16 bits. */
export const u16le = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
/** Little-endian unsigned 24 bits. */
export const u24le = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
/** Big-endian unsigned 32 bits. */
export const u32be = (b: Uint8Array, at: number) =>
  ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
/** Little-endian unsigned 32 bits. */
export const u32le = (b: Uint8Array, at: number) =>
  b[at] + (b[at + 1] << 8) + (b[at + 2] << 16) + ((b[at + 3] << 24) >>> 0);
