/**
 * Tiny byte builders for image test fixtures: each makes the smallest file of its format that
 * has the structure a test needs (frames, items, tracks), so a fixture reads as what it is.
 * Pixel data is minimal; the parsers under test read structure, not pixels.
 *
 * @module
 */
import { deflateRawSync } from "node:zlib";
import { concat, text } from "../../../../../tests/support/bytes.ts";

/** Big-endian 16/32-bit and little-endian 16/24/32-bit encodings. */
export const be16 = (n: number) => new Uint8Array([n >>> 8, n & 255]);
export const be32 = (n: number) =>
  new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
export const le16 = (n: number) => new Uint8Array([n & 255, n >>> 8]);
export const le24 = (n: number) => new Uint8Array([n & 255, (n >>> 8) & 255, (n >>> 16) & 255]);
export const le32 = (n: number) => concat(le16(n & 0xffff), le16(n >>> 16));

// ── GIF ──────────────────────────────────────────────────────────────────────────────────────

/** A frame of a GIF or an animation: its size and position. */
export interface Frame {
  width: number;
  height: number;
  x?: number;
  y?: number;
}

/** A GIF89a with a `screen` logical screen and one image descriptor per frame. */
export function gif(screen: { width: number; height: number }, frames: Frame[]): Uint8Array {
  const parts = [
    text("GIF89a"),
    le16(screen.width),
    le16(screen.height),
    new Uint8Array([0, 0, 0]),
  ];
  for (const { width, height, x = 0, y = 0 } of frames) {
    parts.push(
      new Uint8Array([0x21, 0xf9, 4, 0, 10, 0, 0, 0]), // graphic control: 0.1 s a frame
      new Uint8Array([0x2c]),
      le16(x),
      le16(y),
      le16(width),
      le16(height),
      new Uint8Array([0, 2, 2, 0x44, 0x01, 0]), // no local table, LZW data, end
    );
  }
  return concat(...parts, new Uint8Array([0x3b]));
}

// ── JPEG ─────────────────────────────────────────────────────────────────────────────────────

/**
 * `primary` with an APP2 MPF index (big-endian) after its SOI that declares `secondary`, which is
 * appended after its EOI: the layout of phones' depth maps and Ultra HDR gain maps.
 */
export function mpfJpeg(primary: Uint8Array, secondary: Uint8Array): Uint8Array {
  const segmentLength = 2 + 62;
  const total = primary.length + 2 + segmentLength;
  const tiffStart = 2 + 4 + 4; // SOI, APP2 marker and length, "MPF\0"
  const app2 = concat(
    new Uint8Array([0xff, 0xe2]),
    be16(segmentLength),
    text("MPF\0MM"),
    be16(0x2a),
    be32(8), // the IFD follows the header
    be16(1),
    be16(0xb002),
    be16(7),
    be32(32),
    be32(8 + 2 + 12 + 4), // the MP entries follow the IFD
    be32(0),
    be32(0x00030000), // entry 1: the primary picture
    be32(total),
    be32(0),
    be32(0),
    be32(0), // entry 2: the appended picture
    be32(secondary.length),
    be32(total - tiffStart),
    be32(0),
  );
  return concat(primary.subarray(0, 2), app2, primary.subarray(2), secondary);
}

// ── PNG / APNG ───────────────────────────────────────────────────────────────────────────────

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (the ISO-HDLC one PNG and ZIP both use) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** One PNG chunk with its length and CRC. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const body = concat(text(type), data);
  return concat(be32(data.length), body, be32(crc32(body)));
}

/**
 * A PNG of `width` × `height` (the IDAT is a stub) that is an APNG when `frames` are given: the
 * first frame's fcTL comes before IDAT (the default image is frame 1), the others carry fdAT.
 */
export function apng(width: number, height: number, frames: Frame[] = []): Uint8Array {
  const ihdr = concat(be32(width), be32(height), new Uint8Array([8, 2, 0, 0, 0]));
  const parts: Uint8Array[] = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])];
  parts.push(pngChunk("IHDR", ihdr));
  if (frames.length) parts.push(pngChunk("acTL", concat(be32(frames.length), be32(0))));
  let sequence = 0;
  const fctl = ({ width, height, x = 0, y = 0 }: Frame) =>
    pngChunk(
      "fcTL",
      concat(be32(sequence++), be32(width), be32(height), be32(x), be32(y), new Uint8Array(6)),
    );
  const stub = new Uint8Array([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
  if (frames.length) parts.push(fctl(frames[0]));
  parts.push(pngChunk("IDAT", stub));
  for (const frame of frames.slice(1)) {
    parts.push(fctl(frame), pngChunk("fdAT", concat(be32(sequence++), stub)));
  }
  parts.push(pngChunk("IEND", new Uint8Array(0)));
  return concat(...parts);
}

// ── WebP ─────────────────────────────────────────────────────────────────────────────────────

/** One RIFF chunk, padded to an even length. */
export function riffChunk(type: string, data: Uint8Array): Uint8Array {
  const pad = data.length & 1 ? new Uint8Array(1) : new Uint8Array(0);
  return concat(text(type), le32(data.length), data, pad);
}

/** A VP8L (lossless) bitstream header declaring `width` × `height`. */
export function vp8l(width: number, height: number): Uint8Array {
  return riffChunk(
    "VP8L",
    concat(new Uint8Array([0x2f]), le32((width - 1) | ((height - 1) << 14))),
  );
}

/** A WebP file: RIFF header around `chunks`. */
export function webp(...chunks: Uint8Array[]): Uint8Array {
  const body = concat(text("WEBP"), ...chunks);
  return concat(text("RIFF"), le32(body.length), body);
}

/** A VP8X chunk for a `width` × `height` canvas; `animated` sets the animation flag. */
export function vp8x(width: number, height: number, animated = false): Uint8Array {
  return riffChunk(
    "VP8X",
    concat(new Uint8Array([animated ? 0x02 : 0, 0, 0, 0]), le24(width - 1), le24(height - 1)),
  );
}

/** An ANMF frame holding a VP8L bitstream of its own size. */
export function anmf({ width, height, x = 0, y = 0 }: Frame): Uint8Array {
  return riffChunk(
    "ANMF",
    concat(
      le24(x / 2),
      le24(y / 2),
      le24(width - 1),
      le24(height - 1),
      le24(100),
      new Uint8Array([0]),
      vp8l(width, height),
    ),
  );
}

// ── AVIF (ISO BMFF) ──────────────────────────────────────────────────────────────────────────

/** A box: 32-bit size, type, then its payload parts. */
export function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  const body = concat(...payload);
  return concat(be32(8 + body.length), text(type), body);
}

/** A full box: version and 24-bit flags before the payload. */
export function fullBox(type: string, version: number, ...payload: Uint8Array[]): Uint8Array {
  return box(type, new Uint8Array([version, 0, 0, 0]), ...payload);
}

/** `ftyp` with `brand` as major brand and in the compatible list. */
export const ftyp = (brand = "avif") =>
  box("ftyp", text(brand), be32(0), text(brand), text("mif1"), text("miaf"));

/** An `ispe` property of `width` × `height`. */
export const ispe = (width: number, height: number) =>
  fullBox("ispe", 0, be32(width), be32(height));

/** A still AVIF whose `meta` holds `children` (default: one 64 × 48 ispe), then an `mdat`. */
export function avif(
  children: Uint8Array[] = [box("iprp", box("ipco", ispe(64, 48)))],
  mdat: Uint8Array = new Uint8Array(16),
): Uint8Array {
  return concat(
    ftyp(),
    fullBox("meta", 0, fullBox("hdlr", 0, be32(0), text("pict"), new Uint8Array(12)), ...children),
    box("mdat", mdat),
  );
}

/** One video track: `tkhd` of `width` × `height`, an `av01` sample entry, `samples` samples. */
export function track(width: number, height: number, samples: number): Uint8Array {
  const tkhd = fullBox("tkhd", 0, new Uint8Array(72), be32(width * 65536), be32(height * 65536));
  const entry = box("av01", new Uint8Array(24), be16(width), be16(height), new Uint8Array(50));
  const stbl = box(
    "stbl",
    fullBox("stsd", 0, be32(1), entry),
    fullBox("stsz", 0, be32(1), be32(samples)),
  );
  return box("trak", tkhd, box("mdia", box("minf", stbl)));
}

/** An AVIF sequence (`avis`): optional still `meta` children, one `moov` with `tracks`. */
export function avifSequence(tracks: Uint8Array[], meta?: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [ftyp("avis")];
  if (meta) parts.push(fullBox("meta", 0, ...meta));
  parts.push(box("moov", ...tracks), box("mdat", new Uint8Array(16)));
  return concat(...parts);
}

/** `iinf` listing `items` (id → type) with version-2 `infe` entries. */
export function iinf(items: Array<[number, string]>): Uint8Array {
  return fullBox(
    "iinf",
    0,
    be16(items.length),
    ...items.map(([id, type]) =>
      fullBox("infe", 2, be16(id), be16(0), text(type), new Uint8Array(1))
    ),
  );
}

/**
 * `iloc` version 1 (4-byte offsets and lengths): each item's one extent, read from the file
 * (method 0) or from `idat` (method 1).
 */
export function iloc(
  items: Array<{ id: number; method: 0 | 1; offset: number; length: number }>,
): Uint8Array {
  return fullBox(
    "iloc",
    1,
    new Uint8Array([0x44, 0x00]),
    be16(items.length),
    ...items.map(({ id, method, offset, length }) =>
      concat(be16(id), be16(method), be16(0), be16(1), be32(offset), be32(length))
    ),
  );
}

// ── Polyglot parts ───────────────────────────────────────────────────────────────────────────

/**
 * A ZIP archive holding one file `name` with `content` (stored, or deflated when `deflate`, as
 * `zip` does: the page inside is then no plain text), whose end record declares a comment of
 * `commentLength` bytes: a ZIP placed inside an image sets it to the image bytes that follow, so
 * `unzip` reads them as the comment and lists the file (what the red team did).
 */
export function zip(
  name: string,
  content: Uint8Array,
  { commentLength = 0, deflate = false }: { commentLength?: number; deflate?: boolean } = {},
): Uint8Array {
  const data = deflate ? new Uint8Array(deflateRawSync(content)) : content;
  const fileName = text(name);
  const crc = crc32(content);
  const common = concat(
    le16(20), // version needed: 2.0
    le16(0), // flags
    le16(deflate ? 8 : 0),
    le32(0), // time and date
    le32(crc),
    le32(data.length),
    le32(content.length),
    le16(fileName.length),
    le16(0), // extra field
  );
  const local = concat(new Uint8Array([0x50, 0x4b, 0x03, 0x04]), common, fileName, data);
  const central = concat(
    new Uint8Array([0x50, 0x4b, 0x01, 0x02]),
    le16(0x031e), // made by Unix, 3.0
    common,
    le16(0), // comment
    le16(0), // disk
    le16(0), // internal attributes
    le32(0), // external attributes
    le32(0), // offset of the local header
    fileName,
  );
  const end = concat(
    new Uint8Array([0x50, 0x4b, 0x05, 0x06]),
    le16(0),
    le16(0),
    le16(1),
    le16(1),
    le32(central.length),
    le32(local.length),
    le16(commentLength),
  );
  return concat(local, central, end);
}

/** `png` with `chunks` inserted after IHDR (the first 33 bytes). */
export const pngWith = (png: Uint8Array, ...chunks: Uint8Array[]) =>
  concat(png.subarray(0, 33), ...chunks, png.subarray(33));

/** `jpeg` with a segment `marker` (0xFE a comment, 0xE1 APP1, …) holding `data` after SOI. */
export function jpegWith(jpeg: Uint8Array, marker: number, data: Uint8Array): Uint8Array {
  return concat(
    jpeg.subarray(0, 2),
    new Uint8Array([0xff, marker]),
    be16(data.length + 2),
    data,
    jpeg.subarray(2),
  );
}

/** `jpeg` with `data` put at the start of its (last) scan's entropy-coded data. */
export function jpegWithScanData(jpeg: Uint8Array, data: Uint8Array): Uint8Array {
  const sos = jpeg.findLastIndex((b, i) => b === 0xff && jpeg[i + 1] === 0xda);
  const scanStart = sos + 2 + ((jpeg[sos + 2] << 8) | jpeg[sos + 3]);
  return concat(jpeg.subarray(0, scanStart), data, jpeg.subarray(scanStart));
}

/** `value` as UTF-16 (little-endian unless `bigEndian`), as Exif's XP tags and ICC text hold it. */
export function utf16(value: string, bigEndian = false): Uint8Array {
  const out = new Uint8Array(value.length * 2);
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    out[2 * i + (bigEndian ? 1 : 0)] = unit & 255;
    out[2 * i + (bigEndian ? 0 : 1)] = unit >>> 8;
  }
  return out;
}

/**
 * A minimal Exif APP1 payload ("Exif\0\0", a little-endian TIFF header, one IFD) with one tag:
 * `tag` of `type` (2 ASCII, 1 BYTE for the UTF-16 XP tags) holding `value`.
 */
export function exif(tag: number, type: number, value: Uint8Array): Uint8Array {
  return concat(
    text("Exif\0\0II"),
    le16(42),
    le32(8), // IFD0 right after the header
    le16(1),
    le16(tag),
    le16(type),
    le32(value.length),
    le32(8 + 2 + 12 + 4), // the value follows the IFD
    le32(0), // no next IFD
    value,
  );
}

/** The realistic camera and editor XMP packet in `testdata/camera_xmp.xml`. */
export const cameraXmp = () => Deno.readFileSync(new URL("./camera_xmp.xml", import.meta.url));
