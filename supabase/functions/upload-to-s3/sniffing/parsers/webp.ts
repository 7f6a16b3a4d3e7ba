/**
 * WebP: the RIFF size must be the file's length (plus RIFF's one pad byte for an odd size); the
 * canvas comes from VP8X, or from the one VP8/VP8L bitstream of a simple file. Every bitstream
 * (top level or inside an ANMF frame) and every ANMF frame is a frame the pixel ceiling sees;
 * frames must lie inside the canvas, as the WebP container specification requires.
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
  startsWith,
  trailing,
  truncated,
  u16le,
  u24le,
  u32le,
} from "./common.ts";

const LABEL = "WebP";

/** Chunks that hold compressed pixels: everything else is scanned for markup. */
const PIXEL_CHUNKS = new Set(["VP8 ", "VP8L", "ALPH", "ANMF"]);

/**
 * Walks a WebP (RIFF/WEBP already checked) and returns its canvas, frames and metadata ranges.
 *
 * @throws AppError 422 `corrupt_image` for a truncated or malformed file, 415 `polyglot_refused`
 * for bytes beyond the RIFF size.
 */
export function parseWebp(bytes: Uint8Array): ImageStructure {
  if (bytes.length < 12) throw truncated(LABEL);
  const riffSize = u32le(bytes, 4);
  const riffEnd = 8 + riffSize;
  if (riffEnd > bytes.length) throw truncated(LABEL);
  const pad = riffSize & 1 && bytes.length === riffEnd + 1 && bytes[riffEnd] === 0 ? 1 : 0;
  if (riffEnd + pad < bytes.length) throw trailing(LABEL, bytes.length - riffEnd - pad);

  const count = partCounter(LABEL, "chunks");
  const metadata: Array<[number, number]> = [];
  const text: Array<[number, number]> = [];
  let canvas: Size | undefined;
  let largest: Size = { width: 0, height: 0 };
  let bitstreams = 0;
  let animationFrames = 0;

  /** Chunks in `[start, end)`; `inFrame` for the sub-chunks of one ANMF frame. */
  const walk = (start: number, end: number, inFrame: boolean) => {
    let at = start;
    while (at < end) {
      count();
      if (at + 8 > end) throw truncated(LABEL);
      const type = ascii(bytes, at, 4);
      const size = u32le(bytes, at + 4);
      const data = at + 8;
      if (data + size > end) throw truncated(LABEL);
      if (!canvas && !inFrame) {
        if (type === "VP8X") {
          if (size < 10) throw malformed(LABEL, "the VP8X header is too short");
          canvas = { width: 1 + u24le(bytes, data + 4), height: 1 + u24le(bytes, data + 7) };
        } else if (type !== "VP8 " && type !== "VP8L") {
          throw malformed(LABEL, `it starts with an unexpected "${type.trim()}" chunk`);
        }
      }
      if (type === "VP8 " || type === "VP8L") {
        const frame = bitstreamSize(bytes, type, data, size);
        bitstreams++;
        canvas ??= frame;
        largest = larger(largest, frame);
      } else if (type === "ANMF" && !inFrame) {
        if (size < 16) throw malformed(LABEL, "an animation frame header (ANMF) is too short");
        const x = 2 * u24le(bytes, data);
        const y = 2 * u24le(bytes, data + 3);
        const frame = { width: 1 + u24le(bytes, data + 6), height: 1 + u24le(bytes, data + 9) };
        animationFrames++;
        if (!canvas || x + frame.width > canvas.width || y + frame.height > canvas.height) {
          throw malformed(
            LABEL,
            `animation frame ${animationFrames} (${frame.width} × ${frame.height} at ${x}, ${y}) lies outside the canvas`,
          );
        }
        largest = larger(largest, frame);
        walk(data + 16, data + size, true); // one level only: ANMF inside ANMF is not walked
      } else if (!PIXEL_CHUNKS.has(type)) {
        metadata.push([data, data + size]);
        if (type === "XMP ") text.push([data, data + size]);
      }
      at = Math.min(data + size + (size & 1), end); // the last chunk's pad may be the RIFF pad
    }
  };
  walk(12, riffEnd, false);
  if (!canvas || bitstreams === 0) throw malformed(LABEL, "it has no image data");
  return {
    ...canvas,
    largest: larger(largest, canvas),
    frames: Math.max(1, animationFrames),
    metadata,
    text,
  };
}

/** The size a VP8 (lossy) or VP8L (lossless) bitstream header declares. */
function bitstreamSize(bytes: Uint8Array, type: string, data: number, size: number): Size {
  if (type === "VP8 ") {
    if (size < 10) throw malformed(LABEL, "the VP8 frame header is too short");
    if (!startsWith(bytes.subarray(data + 3), [0x9d, 0x01, 0x2a])) {
      throw malformed(LABEL, "the VP8 frame has no start code");
    }
    return { width: u16le(bytes, data + 6) & 0x3fff, height: u16le(bytes, data + 8) & 0x3fff };
  }
  if (size < 5) throw malformed(LABEL, "the VP8L header is too short");
  if (bytes[data] !== 0x2f) throw malformed(LABEL, "the VP8L stream has no signature");
  const bits = u32le(bytes, data + 1);
  return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) };
}
