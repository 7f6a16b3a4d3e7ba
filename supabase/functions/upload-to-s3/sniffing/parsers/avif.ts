/**
 * AVIF (ISO BMFF / HEIF): every top-level box accounted for, nothing after the last one; boxes
 * walked with a depth and a count limit. The pixel ceiling sees every item's `ispe`, every grid
 * item's output size and every track of a sequence (`tkhd`, its sample entries, its sample
 * count); every item extent (`iloc`) must lie inside an `mdat` (or the `idat`) of the file.
 *
 * @module
 */
import { ERRORS } from "../../../_shared/errors.ts";
import {
  ascii,
  type ImageStructure,
  larger,
  malformed,
  MAX_BOX_DEPTH,
  partCounter,
  type Size,
  trailing,
  truncated,
  u16be,
  u32be,
} from "./common.ts";

const LABEL = "AVIF";

/** Top-level boxes of a still image or a (non-fragmented) sequence; anything else is refused. */
const TOP_LEVEL_BOXES = new Set(["ftyp", "meta", "moov", "mdat", "free", "skip"]);

/** Fragmented-movie boxes: a format we do not accept (its frames hide in fragments). */
const FRAGMENT_BOXES = new Set(["moof", "mfra", "styp", "sidx"]);

/** Largest `free`/`skip` box accepted (writers leave a few bytes, or a name, there). */
const MAX_FREE_BYTES = 4096;

/** Plain containers whose children matter to the checks. */
const CONTAINERS = new Set(["iprp", "ipco", "moov", "trak", "mdia", "minf", "stbl", "dinf"]);

/** Item types whose bytes are text a tool may show (Exif, XMP): scanned for markup. */
const METADATA_ITEMS = new Set(["Exif", "mime"]);

interface Track {
  size: Size;
  samples: number;
}

interface ItemLocation {
  method: number;
  extents: Array<[number, number]>; // [offset, length] after adding base_offset
}

/**
 * Walks an AVIF (its `ftyp` brand already checked) and returns its canvas (the largest item or
 * track), frames (the samples of its sequences, else 1) and metadata ranges.
 *
 * @throws AppError 422 `corrupt_image` for a truncated, malformed or too deeply nested file; 415
 * `polyglot_refused` for a top-level box that is not part of an image or bytes after the last
 * box; 415 `unsupported_media_type` for a fragmented sequence.
 */
export function parseAvif(bytes: Uint8Array): ImageStructure {
  const count = partCounter(LABEL, "boxes");
  const metadata: Array<[number, number]> = [];
  const text: Array<[number, number]> = [];
  const sizes: Size[] = [];
  const tracks: Track[] = [];
  const items = new Map<number, string>();
  const locations = new Map<number, ItemLocation>();
  const mdats: Array<[number, number]> = [];
  let idat: [number, number] | undefined;
  let track: Track | undefined;

  /** Boxes in `[start, end)`, `depth` levels below the top. */
  const walk = (start: number, end: number, depth: number): void => {
    if (depth > MAX_BOX_DEPTH) {
      throw malformed(LABEL, `its boxes are nested more than ${MAX_BOX_DEPTH} deep`);
    }
    const topLevel = depth === 0;
    let at = start;
    while (at < end) {
      count();
      const cut = () => topLevel ? truncated(LABEL) : malformed(LABEL, "a box is cut");
      // Fewer bytes than a box header after the last box: not a box, so appended data.
      if (at + 8 > end) throw topLevel ? trailing(LABEL, end - at) : cut();
      let size = u32be(bytes, at);
      const type = ascii(bytes, at + 4, 4);
      if (topLevel) {
        if (at === 0 && type !== "ftyp") throw malformed(LABEL, "it does not start with ftyp");
        if (FRAGMENT_BOXES.has(type)) {
          throw ERRORS.UnsupportedMediaType(
            "Fragmented AVIF sequences are not accepted; save the animation as a plain AVIF sequence or a still image",
          );
        }
        if (!TOP_LEVEL_BOXES.has(type)) throw trailing(LABEL, bytes.length - at);
      } else if (!/^[\x20-\x7e]{4}$/.test(type)) {
        throw malformed(LABEL, `the box at byte ${at} has no valid type`);
      }
      let header = 8;
      if (size === 1) {
        if (at + 16 > end) throw cut();
        size = u32be(bytes, at + 8) * 2 ** 32 + u32be(bytes, at + 12);
        header = 16;
      } else if (size === 0) {
        size = end - at; // to the end of the enclosing box (the file, at the top)
      }
      if (size < header) throw malformed(LABEL, `box "${type}" has an impossible size`);
      if (at + size > end) throw cut();
      const body = at + header;
      const boxEnd = at + size;
      readBox(type, body, boxEnd, depth);
      if (topLevel && type !== "mdat") metadata.push([body, boxEnd]);
      at = boxEnd;
    }
  };

  const readBox = (type: string, body: number, end: number, depth: number): void => {
    const need = (n: number) => {
      if (body + n > end) throw malformed(LABEL, `box "${type}" is too short`);
    };
    switch (type) {
      case "mdat":
        if (depth === 0) mdats.push([body, end]); // in file order: sorted for the search below
        return;
      case "free":
      case "skip":
        // Unused space has no reason to be large; a big one is a place to hide another file.
        if (end - body > MAX_FREE_BYTES) {
          throw ERRORS.PolyglotRefused(
            `The ${LABEL} image carries ${
              end - body
            } bytes of unused space (a "${type}" box), which can hide another file; save the image again from an image editor and upload that`,
          );
        }
        return;
      case "meta":
        need(4);
        return walk(body + 4, end, depth + 1);
      case "iinf": {
        need(4);
        const entries = bytes[body] === 0 ? 2 : 4;
        need(4 + entries);
        return walk(body + 4 + entries, end, depth + 1);
      }
      case "infe": {
        if (bytes[body] < 2) return; // versions 0 and 1 carry no item type
        const idBytes = bytes[body] === 2 ? 2 : 4;
        need(4 + idBytes + 2 + 4);
        const id = idBytes === 2 ? u16be(bytes, body + 4) : u32be(bytes, body + 4);
        items.set(id, ascii(bytes, body + 4 + idBytes + 2, 4));
        return;
      }
      case "iloc":
        return readItemLocations(body, end);
      case "idat":
        idat = [body, end];
        return;
      case "ispe":
        need(12);
        sizes.push({ width: u32be(bytes, body + 4), height: u32be(bytes, body + 8) });
        return;
      case "trak": {
        const outer = track;
        track = { size: { width: 0, height: 0 }, samples: 0 };
        walk(body, end, depth + 1);
        tracks.push(track);
        track = outer;
        return;
      }
      case "tkhd": {
        // Width and height, 16.16 fixed point, close the box (version 1 has 64-bit times).
        need(4);
        const at = body + (bytes[body] === 1 ? 88 : 76);
        need(at + 8 - body);
        if (track) {
          track.size = larger(track.size, {
            width: Math.floor(u32be(bytes, at) / 65536),
            height: Math.floor(u32be(bytes, at + 4) / 65536),
          });
        }
        return;
      }
      case "stsd":
        need(8);
        return readSampleEntries(body + 8, end);
      case "stsz":
      case "stz2":
        need(12);
        if (track) track.samples += u32be(bytes, body + 8);
        return;
      default:
        if (CONTAINERS.has(type)) walk(body, end, depth + 1);
    }
  };

  /** Visual sample entries (`av01`…): width and height at bytes 24–27 of each entry's body. */
  const readSampleEntries = (start: number, end: number) => {
    let at = start;
    while (at + 8 <= end) {
      count();
      const size = u32be(bytes, at);
      if (size < 8 || at + size > end) throw malformed(LABEL, "a sample entry is cut");
      if (size >= 8 + 28 && track) {
        track.size = larger(track.size, {
          width: u16be(bytes, at + 8 + 24),
          height: u16be(bytes, at + 8 + 26),
        });
      }
      at += size;
    }
  };

  /** `iloc` (ISO/IEC 14496-12 §8.11.3), versions 0–2; every read checked against the box. */
  const readItemLocations = (body: number, end: number) => {
    let at = body;
    const read = (n: number): number => {
      if (n === 0) return 0;
      if (at + n > end) throw malformed(LABEL, 'the item locations ("iloc") are cut');
      let value = 0;
      for (let i = 0; i < n; i++) value = value * 256 + bytes[at + i];
      at += n;
      return value;
    };
    const version = read(1);
    read(3); // flags
    if (version > 2) throw malformed(LABEL, `iloc version ${version} is unknown`);
    const sizes1 = read(1);
    const sizes2 = read(1);
    const offsetSize = sizes1 >> 4;
    const lengthSize = sizes1 & 15;
    const baseOffsetSize = sizes2 >> 4;
    const indexSize = version === 0 ? 0 : sizes2 & 15;
    for (const n of [offsetSize, lengthSize, baseOffsetSize, indexSize]) {
      if (n !== 0 && n !== 4 && n !== 8) throw malformed(LABEL, `iloc field size ${n} is invalid`);
    }
    const itemCount = read(version < 2 ? 2 : 4);
    for (let i = 0; i < itemCount; i++) {
      count();
      const id = read(version < 2 ? 2 : 4);
      const method = version === 0 ? 0 : read(2) & 15;
      read(2); // data_reference_index
      const base = read(baseOffsetSize);
      const extentCount = read(2);
      const extents: Array<[number, number]> = [];
      for (let e = 0; e < extentCount; e++) {
        count();
        read(indexSize);
        const offset = read(offsetSize);
        const length = read(lengthSize);
        extents.push([base + offset, length]);
      }
      locations.set(id, { method, extents });
    }
  };

  walk(0, bytes.length, 0);

  // Every item's data must be inside the file: in an mdat (method 0) or the idat (method 1).
  const resolved = new Map<number, Array<[number, number]>>();
  for (const [id, { method, extents }] of locations) {
    if (method > 1) continue; // data built from other items: those are checked themselves
    const ranges = extents.map(([offset, length]): [number, number] => {
      if (method === 1) {
        if (!idat) throw malformed(LABEL, `item ${id} points into an idat box it does not have`);
        const start = idat[0] + offset;
        return [start, length === 0 ? idat[1] : start + length];
      }
      return [offset, length === 0 ? bytes.length : offset + length];
    });
    for (const [start, stop] of ranges) {
      if (!isInside(method === 1 ? [idat!] : mdats, start, stop)) {
        throw malformed(LABEL, `the data of item ${id} lies outside the file's media data`);
      }
    }
    resolved.set(id, ranges);
  }

  for (const [id, type] of items) {
    const ranges = resolved.get(id);
    if (!ranges) continue;
    if (type === "grid") sizes.push(gridSize(bytes, ranges));
    else if (METADATA_ITEMS.has(type)) metadata.push(...ranges);
    if (type === "mime") text.push(...ranges); // XMP (application/rdf+xml) and other text
  }

  let largest: Size = { width: 0, height: 0 };
  for (const size of sizes) largest = larger(largest, size);
  let samples = 0;
  for (const { size, samples: n } of tracks) {
    largest = larger(largest, size);
    samples += n;
  }
  if (sizes.length === 0 && tracks.length === 0) {
    throw malformed(LABEL, "it has no image size (ispe) property");
  }
  return { ...largest, largest, frames: Math.max(1, samples), metadata, text };
}

/** Whether `[start, stop)` lies inside one of `boxes` (sorted, disjoint): a binary search. */
function isInside(boxes: Array<[number, number]>, start: number, stop: number): boolean {
  let low = 0;
  let high = boxes.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const [from, to] = boxes[middle];
    if (start < from) high = middle - 1;
    else if (start > to) low = middle + 1;
    else return stop <= to;
  }
  return false;
}

/** A grid item's output size (ISO/IEC 23008-12 §6.6.2.3.2), from its first 12 data bytes. */
function gridSize(bytes: Uint8Array, ranges: Array<[number, number]>): Size {
  const [start, end] = ranges[0] ?? [0, 0];
  const wide = (bytes[start + 1] & 1) === 1;
  if (end - start < (wide ? 12 : 8)) throw malformed(LABEL, "a grid item is too short");
  return wide
    ? { width: u32be(bytes, start + 4), height: u32be(bytes, start + 8) }
    : { width: u16be(bytes, start + 4), height: u16be(bytes, start + 6) };
}
