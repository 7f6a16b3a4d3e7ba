/**
 * JPEG: segments walked from SOI through every scan to EOI. Every frame header (SOFn, baseline
 * or progressive, however many) is a frame the pixel ceiling sees; thumbnails inside APP
 * segments are data of that segment and are not walked. Nothing may follow EOI but padding.
 *
 * @module
 */
import {
  type ImageStructure,
  larger,
  malformed,
  partCounter,
  type Size,
  trailing,
  truncated,
  u16be,
} from "./common.ts";

const LABEL = "JPEG";

/**
 * Most bytes after EOI accepted, and only as a run of one fill byte (0x00 or 0xFF): some cameras
 * and writers pad files so, and a run of one repeated byte carries no information. Anything else
 * there (an MPF second picture, a Motion Photo video, another file) is refused: a product image
 * is the picture alone.
 */
export const JPEG_MAX_PADDING = 4096;

/** Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC). */
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
 * Walks a JPEG (SOI already checked) and returns the largest frame as its size, the number of
 * frame headers, and the segments (APPn, COM, tables) as metadata ranges.
 *
 * @throws AppError 422 `corrupt_image` for a truncated or malformed file, 415 `polyglot_refused`
 * for anything after EOI but padding.
 */
export function parseJpeg(bytes: Uint8Array): ImageStructure {
  const count = partCounter(LABEL, "segments");
  const metadata: Array<[number, number]> = [];
  let largest: Size | undefined;
  let frames = 0;
  let at = 2;
  for (;;) {
    if (at + 2 > bytes.length) throw truncated(LABEL);
    if (bytes[at] !== 0xff) throw malformed(LABEL, `no marker at byte ${at}`);
    const marker = bytes[at + 1];
    if (marker === 0xff) { // fill byte
      at++;
      continue;
    }
    count();
    at += 2;
    if (marker === 0xd9) {
      if (!largest) throw malformed(LABEL, "it has no frame header");
      checkPadding(bytes, at);
      return { ...largest, largest, frames, metadata };
    }
    if (marker === 0xd8) throw malformed(LABEL, `a second start of image at byte ${at - 2}`);
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (at + 2 > bytes.length) throw truncated(LABEL);
    const length = u16be(bytes, at);
    if (length < 2) throw malformed(LABEL, `segment 0x${marker.toString(16)} is too short`);
    if (at + length > bytes.length) throw truncated(LABEL);
    if (SOF_MARKERS.has(marker)) {
      if (length < 7) throw malformed(LABEL, "the frame header is too short");
      const frame = { height: u16be(bytes, at + 3), width: u16be(bytes, at + 5) };
      frames++;
      largest = largest ? larger(largest, frame) : frame;
    } else {
      metadata.push([at + 2, at + length]);
    }
    at += length;
    if (marker === 0xda) at = skipEntropyCodedData(bytes, at);
  }
}

/** Refuses anything after EOI but a short run of one fill byte ({@linkcode JPEG_MAX_PADDING}). */
function checkPadding(bytes: Uint8Array, end: number): void {
  const extra = bytes.length - end;
  if (extra === 0) return;
  const fill = bytes[end];
  const isPadding = extra <= JPEG_MAX_PADDING && (fill === 0x00 || fill === 0xff) &&
    bytes.subarray(end).every((byte) => byte === fill);
  if (!isPadding) throw trailing(LABEL, extra);
}

/** From the start of scan data, the offset of the next marker (not a stuffed 0xFF00 or RSTn). */
function skipEntropyCodedData(bytes: Uint8Array, from: number): number {
  for (let at = bytes.indexOf(0xff, from); at !== -1; at = bytes.indexOf(0xff, at + 1)) {
    if (at + 1 >= bytes.length) break;
    const next = bytes[at + 1];
    if (next === 0x00 || next === 0xff || (next >= 0xd0 && next <= 0xd7)) continue;
    return at;
  }
  throw truncated(LABEL);
}
