/**
 * JPEG: segments walked from SOI through every scan to EOI. Every frame header (SOFn, baseline
 * or progressive, however many) is a frame the pixel ceiling sees; thumbnails inside APP
 * segments are data of that segment and are not walked. Nothing may follow EOI but padding.
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
  u16be,
  u16le,
  u32be,
  u32le,
} from "./common.ts";
import { nextJpegMarker } from "../simd/byte_scan.ts";

const LABEL = "JPEG";

/**
 * Most bytes after EOI accepted as padding, and only as a run of one fill byte (0x00 or 0xFF):
 * some cameras and writers pad files so, and a run of one repeated byte carries no information.
 * Anything else there but the pictures an MPF index declares (a Motion Photo video, a vendor
 * trailer, another file) is refused.
 */
export const JPEG_MAX_PADDING = 4096;

/**
 * Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC); and DHP (DE), which
 * declares a hierarchical image's full size in the same layout.
 */
const SOF_MARKERS = new Set([
  0xde,
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
 * frame headers, and the segments (APPn, COM, tables) as metadata ranges. After EOI only the
 * pictures its MPF index declares (each a whole JPEG, walked the same way and counted as a frame)
 * or padding may follow.
 *
 * @throws AppError 422 `corrupt_image` for a truncated or malformed file, 415 `polyglot_refused`
 * for anything else after EOI.
 */
export function parseJpeg(bytes: Uint8Array): ImageStructure {
  const count = partCounter(LABEL, "segments");
  const primary = walkJpeg(bytes, count);
  const { metadata, text } = primary;
  let { largest, frames, end } = primary;
  if (!isPadding(bytes, end) && primary.pictures.length > 0) {
    // Every byte after EOI must belong to a declared picture, in order, back to back.
    for (const [start, size] of [...primary.pictures].sort((a, b) => a[0] - b[0])) {
      if (start < end) continue; // not after EOI: covers no trailing byte
      if (start > end) break; // a gap: refused below
      if (start + size > bytes.length) throw truncated(LABEL);
      const picture = bytes.subarray(start, start + size);
      if (!startsWith(picture, [0xff, 0xd8, 0xff])) {
        throw malformed(LABEL, `the picture its MPF index declares at byte ${start} is not a JPEG`);
      }
      const inner = walkJpeg(picture, count);
      if (!isPadding(picture, inner.end)) throw trailing(LABEL, size - inner.end);
      largest = larger(largest, inner.largest);
      frames += inner.frames;
      for (const [from, to] of inner.metadata) metadata.push([start + from, start + to]);
      for (const [from, to] of inner.text) text.push([start + from, start + to]);
      end = start + size;
    }
  }
  if (!isPadding(bytes, end)) throw trailing(LABEL, bytes.length - end);
  return { ...primary.largest, largest, frames, metadata, text };
}

interface JpegWalk {
  largest: Size;
  frames: number;
  metadata: Array<[number, number]>;
  /** Comments (COM) and XMP packets (APP1): text, inside `metadata`. */
  text: Array<[number, number]>;
  /** The offset just after EOI. */
  end: number;
  /** `[start, size]` of the further pictures an MPF index (APP2) declares, file offsets. */
  pictures: Array<[number, number]>;
}

/** SOI to EOI of one JPEG in `bytes`; `count` is shared so all pictures share one part limit. */
function walkJpeg(bytes: Uint8Array, count: () => void): JpegWalk {
  const metadata: Array<[number, number]> = [];
  const text: Array<[number, number]> = [];
  const pictures: Array<[number, number]> = [];
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
      return { largest, frames, metadata, text, end: at, pictures };
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
      if (marker === 0xe2) pictures.push(...mpfPictures(bytes, at + 2, at + length));
      metadata.push([at + 2, at + length]);
      if (marker === 0xfe || (marker === 0xe1 && isXmp(bytes, at + 2))) {
        text.push([at + 2, at + length]);
      }
    }
    at += length;
    if (marker === 0xda) at = skipEntropyCodedData(bytes, at);
  }
}

/**
 * The further pictures an APP2 `MPF` segment (CIPA DC-007 Multi-Picture Format: phones' depth
 * maps, Ultra HDR and iPhone HDR gain maps) declares: `[start, size]` of each MP entry after the
 * first, as offsets into `bytes` (entry offsets count from the segment's TIFF header). Any other
 * APP2 segment (an ICC profile) declares none.
 */
function mpfPictures(bytes: Uint8Array, data: number, end: number): Array<[number, number]> {
  if (ascii(bytes, data, 4) !== "MPF\0") return [];
  const tiff = data + 4;
  const cut = () => malformed(LABEL, "its MPF index is cut");
  if (tiff + 8 > end) throw cut();
  const order = ascii(bytes, tiff, 2);
  if (order !== "II" && order !== "MM") throw malformed(LABEL, "its MPF index has no byte order");
  const u16 = order === "II" ? u16le : u16be;
  const u32 = order === "II" ? u32le : u32be;
  const ifd = tiff + u32(bytes, tiff + 4);
  if (ifd + 2 > end) throw cut();
  const pictures: Array<[number, number]> = [];
  for (let i = 0, tags = u16(bytes, ifd); i < tags; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > end) throw cut();
    if (u16(bytes, entry) !== 0xb002) continue; // MPEntry: 16 bytes a picture
    const length = u32(bytes, entry + 4);
    const list = tiff + u32(bytes, entry + 8);
    if (length % 16 !== 0 || list + length > end) throw cut();
    for (let at = list + 16; at < list + length; at += 16) {
      pictures.push([tiff + u32(bytes, at + 8), u32(bytes, at + 4)]);
    }
  }
  return pictures;
}

/** The identifiers that open an APP1 XMP packet: the main one, and extended XMP's parts. */
const XMP_IDS = ["http://ns.adobe.com/xap/1.0/\0", "http://ns.adobe.com/xmp/extension/\0"];

/** Whether the APP1 segment whose data starts at `data` holds XMP (rather than Exif). */
function isXmp(bytes: Uint8Array, data: number): boolean {
  return XMP_IDS.some((id) => ascii(bytes, data, id.length) === id);
}

/** Whether `bytes` from `end` on are nothing or a short run of one fill byte. */
function isPadding(bytes: Uint8Array, end: number): boolean {
  const extra = bytes.length - end;
  if (extra === 0) return true;
  const fill = bytes[end];
  return extra <= JPEG_MAX_PADDING && (fill === 0x00 || fill === 0xff) &&
    bytes.subarray(end).every((byte) => byte === fill);
}

/** From the start of scan data, the offset of the next marker (not a stuffed 0xFF00 or RSTn). */
function skipEntropyCodedData(bytes: Uint8Array, from: number): number {
  const at = nextJpegMarker(bytes, from);
  if (at === -1) throw truncated(LABEL);
  return at;
}
