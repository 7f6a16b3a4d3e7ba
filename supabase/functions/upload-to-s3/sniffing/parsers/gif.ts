/**
 * GIF: blocks walked from the logical screen to the trailer (0x3B), nothing after it. Every image
 * descriptor is a frame; the canvas is what viewers really allocate, the logical screen grown to
 * cover every frame (browsers enlarge it for a frame that sticks out).
 *
 * @module
 */
import {
  ascii,
  type ImageStructure,
  larger,
  malformed,
  partCounter,
  type Size,
  trailing,
  truncated,
  u16le,
} from "./common.ts";

const LABEL = "GIF";

/**
 * Walks a GIF (signature already checked) and returns its canvas, frames and metadata ranges
 * (extension blocks: comments, application data such as XMP).
 *
 * @throws AppError 422 `corrupt_image` for a truncated or malformed file, 415 `polyglot_refused`
 * for bytes after the trailer.
 */
export function parseGif(bytes: Uint8Array): ImageStructure {
  if (bytes.length < 13) throw truncated(LABEL);
  const count = partCounter(LABEL, "blocks");
  const metadata: Array<[number, number]> = [];
  const text: Array<[number, number]> = [];
  let width = u16le(bytes, 6);
  let height = u16le(bytes, 8);
  let largest: Size = { width: 0, height: 0 };
  let frames = 0;
  let at = 13;
  const flags = bytes[10];
  if (flags & 0x80) at += 3 * (1 << ((flags & 0x07) + 1));
  /**
   * Data sub-blocks: each step moves at least one byte, so the walk is linear. `into` collects
   * each sub-block's data without its length byte (which could read as a `<`).
   */
  const skipSubBlocks = (into?: Array<[number, number]>) => {
    for (;;) {
      if (at >= bytes.length) throw truncated(LABEL);
      const size = bytes[at++];
      if (size === 0) return;
      into?.push([at, Math.min(at + size, bytes.length)]);
      at += size;
    }
  };
  for (;;) {
    count();
    if (at >= bytes.length) throw truncated(LABEL);
    const block = bytes[at++];
    if (block === 0x3b) {
      if (at < bytes.length) throw trailing(LABEL, bytes.length - at);
      if (frames === 0) throw malformed(LABEL, "it has no image");
      return {
        width,
        height,
        largest: larger(largest, { width, height }),
        frames,
        metadata,
        text,
      };
    } else if (block === 0x21) {
      const start = at;
      const label = bytes[at++];
      const isText = label === 0xfe || label === 0x01 || // comment, plain text
        (label === 0xff && ascii(bytes, at + 1, 11) === "XMP DataXMP");
      skipSubBlocks(isText ? text : undefined);
      metadata.push([start, at]);
    } else if (block === 0x2c) {
      if (at + 9 > bytes.length) throw truncated(LABEL);
      const left = u16le(bytes, at);
      const top = u16le(bytes, at + 2);
      const frame = { width: u16le(bytes, at + 4), height: u16le(bytes, at + 6) };
      const localFlags = bytes[at + 8];
      at += 9;
      if (localFlags & 0x80) at += 3 * (1 << ((localFlags & 0x07) + 1));
      at++; // LZW minimum code size
      skipSubBlocks();
      frames++;
      largest = larger(largest, frame);
      width = Math.max(width, left + frame.width);
      height = Math.max(height, top + frame.height);
    } else {
      throw malformed(LABEL, `unknown block 0x${block.toString(16)} at byte ${at - 1}`);
    }
  }
}
