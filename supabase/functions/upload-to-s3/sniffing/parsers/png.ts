/**
 * PNG and APNG: chunks walked from IHDR to IEND, nothing after IEND; every APNG frame (`fcTL`)
 * counted and held inside the IHDR canvas, as the APNG specification requires.
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
  u32be,
} from "./common.ts";

const LABEL = "PNG";

/** Chunks that hold compressed pixels: everything else is small and scanned for markup. */
const PIXEL_CHUNKS = new Set(["IDAT", "fdAT"]);

/** Chunks that hold text (Latin-1 or UTF-8, maybe compressed) or a compressed ICC profile. */
const TEXT_CHUNKS = new Set(["tEXt", "zTXt", "iTXt", "iCCP"]);

/**
 * Walks a PNG (signature already checked) and returns its canvas, frames and metadata ranges.
 *
 * @throws AppError 422 `corrupt_image` for a truncated or malformed file, 415 `polyglot_refused`
 * for bytes after IEND.
 */
export function parsePng(bytes: Uint8Array): ImageStructure {
  const count = partCounter(LABEL, "chunks");
  const metadata: Array<[number, number]> = [];
  const text: Array<[number, number]> = [];
  const compressed: NonNullable<ImageStructure["compressed"]> = [];
  let canvas: Size | undefined;
  let largest: Size = { width: 0, height: 0 };
  let animationFrames = 0;
  let defaultImageIsFrame = false; // an fcTL before the first IDAT makes the IHDR image frame 1
  let sawImageData = false;
  let at = 8;
  for (;;) {
    count();
    if (at + 12 > bytes.length) throw truncated(LABEL);
    const length = u32be(bytes, at);
    const type = ascii(bytes, at + 4, 4);
    if (length > 0x7fffffff) throw malformed(LABEL, `chunk "${type}" has an impossible length`);
    const data = at + 8;
    const end = data + length + 4;
    if (end > bytes.length) throw truncated(LABEL);
    if (!canvas) {
      if (type !== "IHDR" || length < 13) throw malformed(LABEL, "it does not start with IHDR");
      canvas = { width: u32be(bytes, data), height: u32be(bytes, data + 4) };
      largest = canvas;
    } else if (type === "IDAT") {
      sawImageData = true;
    } else if (type === "fcTL") {
      if (length < 26) throw malformed(LABEL, "an animation frame header (fcTL) is too short");
      const frame = { width: u32be(bytes, data + 4), height: u32be(bytes, data + 8) };
      const x = u32be(bytes, data + 12);
      const y = u32be(bytes, data + 16);
      animationFrames++;
      if (!sawImageData) defaultImageIsFrame = true;
      if (x + frame.width > canvas.width || y + frame.height > canvas.height) {
        throw malformed(
          LABEL,
          `animation frame ${animationFrames} (${frame.width} × ${frame.height} at ${x}, ${y}) lies outside the ${canvas.width} × ${canvas.height} image`,
        );
      }
      largest = larger(largest, frame);
    } else if (type === "IEND") {
      if (end < bytes.length) throw trailing(LABEL, bytes.length - end);
      if (!sawImageData) throw malformed(LABEL, "it has no image data (IDAT)");
      const frames = animationFrames === 0 ? 1 : animationFrames + (defaultImageIsFrame ? 0 : 1);
      return { ...canvas, largest, frames, metadata, text, compressed };
    }
    if (!PIXEL_CHUNKS.has(type)) metadata.push([data, data + length]);
    if (TEXT_CHUNKS.has(type)) textChunk(bytes, type, data, data + length, text, compressed);
    at = end;
  }
}

/**
 * Splits a text chunk (PNG 1.2 §11.3.4) into its plain text and its zlib stream, if any:
 * `tEXt` keyword NUL text; `zTXt` keyword NUL method stream; `iTXt` keyword NUL flag method
 * language NUL translated-keyword NUL text (a stream when flag is 1); `iCCP` name NUL method
 * stream (an ICC profile, not text). A chunk whose fields do not parse is all plain text, which
 * is how readers that skip it would leave it: nothing in it is hidden from the scan.
 */
function textChunk(
  bytes: Uint8Array,
  type: string,
  data: number,
  end: number,
  text: Array<[number, number]>,
  compressed: NonNullable<ImageStructure["compressed"]>,
): void {
  const nul = (from: number) => {
    const at = bytes.subarray(from, end).indexOf(0);
    return at === -1 ? -1 : from + at;
  };
  const keywordEnd = nul(data);
  let stream = -1;
  let method = 0;
  if (type === "zTXt" || type === "iCCP") {
    if (keywordEnd !== -1 && keywordEnd + 1 < end) {
      method = bytes[keywordEnd + 1];
      stream = keywordEnd + 2;
    }
  } else if (type === "iTXt" && keywordEnd !== -1 && keywordEnd + 3 <= end) {
    const languageEnd = nul(keywordEnd + 3);
    const translatedEnd = languageEnd === -1 ? -1 : nul(languageEnd + 1);
    if (bytes[keywordEnd + 1] === 1 && translatedEnd !== -1) {
      method = bytes[keywordEnd + 2];
      stream = translatedEnd + 1;
    }
  }
  if (stream === -1) {
    if (type !== "iCCP") text.push([data, end]);
    return;
  }
  if (method !== 0) throw malformed(LABEL, `a ${type} chunk uses an unknown compression method`);
  if (type !== "iCCP") text.push([data, stream]);
  compressed.push({ start: stream, end, text: type !== "iCCP" });
}
