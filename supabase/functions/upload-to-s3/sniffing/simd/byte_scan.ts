/**
 * The scans of an upload that read every byte, 16 bytes a step with WebAssembly SIMD
 * (`byte_scan.wat`), because they were the largest share of the function's CPU per upload: on a
 * 1 MiB JPEG the JavaScript loops took ~0.7 ms (pairs), ~0.4 ms (JPEG markers) and ~0.25 ms (the
 * multipart boundary), where one isolate serves every upload in flight. Each scan gives exactly
 * the answer of its plain JavaScript reference ({@linkcode nextPairJs},
 * {@linkcode nextJpegMarkerJs}, multipart.ts's search), which is also the fallback where
 * WebAssembly SIMD is missing.
 *
 * The file is copied into the module's memory a window (64 KiB) at a time, so that memory stays
 * three pages whatever the upload's size, a scan that stops early copies little, and no state
 * outlives a call (the caller may reuse or change its bytes between calls).
 *
 * @module
 */
import { BYTE_SCAN_WASM_BASE64 } from "./byte_scan_wasm.ts";

/** Bytes copied into the module per step; its memory holds this plus one, plus 17 of slack. */
const WINDOW = 65_536;
/** Where the window starts in the module's memory (the pair table sits below it). */
const DATA = 65_536;

/** Where the needle of `findNeedle` sits in the module's memory, and its longest length. */
const NEEDLE = 196_480;
const MAX_NEEDLE = 128;

interface ScanExports {
  memory: WebAssembly.Memory;
  nextPair(start: number, length: number): number;
  nextJpegMarker(start: number, length: number): number;
  findNeedle(start: number, length: number, needleLength: number): number;
}

/** What the vector test of `nextPair` lets through (byte_scan.wat): `<` first, `:` second, … */
const LT = 0x3c;
const COLON = 0x3a;
/** … and these whole pairs: "PK", "Ra", "7z". */
const VECTOR_PAIRS = new Set([0x504b, 0x5261, 0x377a]);

/** Whether every pair `table` marks passes the module's vector test, so none can be missed. */
export function vectorTestCovers(table: Uint8Array): boolean {
  for (let pair = 0; pair < 65_536; pair++) {
    if (table[pair] === 0) continue;
    if ((pair >> 8) === LT || (pair & 0xff) === COLON || VECTOR_PAIRS.has(pair)) continue;
    return false;
  }
  return true;
}

let instance: ScanExports | null | undefined;

/** The module, instantiated once per isolate; null where WebAssembly SIMD is not available. */
function scanModule(): ScanExports | null {
  if (instance !== undefined) return instance;
  try {
    const bytes = Uint8Array.from(atob(BYTE_SCAN_WASM_BASE64), (c) => c.charCodeAt(0));
    instance = new WebAssembly.Instance(new WebAssembly.Module(bytes))
      .exports as unknown as ScanExports;
  } catch {
    instance = null;
  }
  return instance;
}

/** Whether the scans run in WebAssembly here (false: the JavaScript references run). */
export function simdScansAvailable(): boolean {
  return scanModule() !== null;
}

/** The pair table in the module's memory now. */
let loadedTable: Uint8Array | undefined;

/** Copies `bytes[start, end)` into the module's window. */
function load(wasm: ScanExports, bytes: Uint8Array, start: number, end: number): void {
  new Uint8Array(wasm.memory.buffer, DATA, end - start).set(bytes.subarray(start, end));
}

/**
 * A scanner that calls `visit(at)` for every offset `at`, in order, where
 * `table[(bytes[at] << 8) | bytes[at + 1]]` is not 0 (`visit` throws to stop): the same offsets
 * as {@linkcode nextPairJs} gives one after another, found in WebAssembly when the table passes
 * the module's vector test ({@linkcode vectorTestCovers}), else in JavaScript. `visit` must not
 * scan itself (the module's memory holds the window being scanned).
 */
export function pairScanner(
  table: Uint8Array,
): (bytes: Uint8Array, visit: (at: number) => void) => void {
  const wasm = scanModule();
  if (!wasm || table.length !== 65_536 || !vectorTestCovers(table)) {
    return (bytes, visit) => {
      for (let at = nextPairJs(table, bytes, 0); at !== -1; at = nextPairJs(table, bytes, at + 1)) {
        visit(at);
      }
    };
  }
  return (bytes, visit) => {
    // One module per isolate: the function has one table, tests make others.
    if (loadedTable !== table) {
      new Uint8Array(wasm.memory.buffer, 0, 65_536).set(table);
      loadedTable = table;
    }
    // A pair at `at` needs the byte after it, so windows overlap by one byte.
    for (let start = 0, end = 0; start + 1 < bytes.length; start = end - 1) {
      end = Math.min(bytes.length, start + WINDOW + 1);
      load(wasm, bytes, start, end);
      const length = end - start;
      for (let at = wasm.nextPair(0, length); at !== -1; at = wasm.nextPair(at + 1, length)) {
        visit(start + at);
      }
    }
  };
}

/**
 * The reference of {@linkcode pairScanner}. A loop that only loads, looks up and returns, like
 * `indexOf`: a call inside it would make V8 reload the array's bounds at every byte (measured:
 * twice as slow).
 */
export function nextPairJs(table: Uint8Array, bytes: Uint8Array, from: number): number {
  for (let at = Math.max(0, from); at + 1 < bytes.length; at++) {
    if (table[(bytes[at] << 8) | bytes[at + 1]] !== 0) return at;
  }
  return -1;
}

/**
 * The first offset at or after `from` of a JPEG marker: a 0xFF followed by a byte that is not
 * 0x00 (a stuffed 0xFF in entropy-coded data), 0xFF (fill) or 0xD0–0xD7 (a restart marker); -1
 * when there is none before the last byte.
 */
export function nextJpegMarker(bytes: Uint8Array, from: number): number {
  const wasm = scanModule();
  if (!wasm) return nextJpegMarkerJs(bytes, from);
  // A marker at `at` needs the byte after it, so windows overlap by one byte.
  for (let start = Math.max(0, from), end = 0; start + 1 < bytes.length; start = end - 1) {
    end = Math.min(bytes.length, start + WINDOW + 1);
    load(wasm, bytes, start, end);
    const found = wasm.nextJpegMarker(0, end - start);
    if (found !== -1) return start + found;
  }
  return -1;
}

/** The reference of {@linkcode nextJpegMarker}: the runtime's `indexOf` from one 0xFF to the next. */
export function nextJpegMarkerJs(bytes: Uint8Array, from: number): number {
  for (
    let at = bytes.indexOf(0xff, Math.max(0, from));
    at !== -1;
    at = bytes.indexOf(0xff, at + 1)
  ) {
    if (at + 1 >= bytes.length) return -1;
    const next = bytes[at + 1];
    if (next === 0x00 || next === 0xff || (next >= 0xd0 && next <= 0xd7)) continue;
    return at;
  }
  return -1;
}

/**
 * A search for `needle` (2 to 128 bytes, its first byte not repeated in it, like a multipart
 * delimiter, which starts with the only CR in it) in `[from, end)` of a haystack: the first offset
 * where it starts, or -1. Null when the needle does not qualify or WebAssembly SIMD is missing
 * (the caller searches in JavaScript then). The first-byte rule keeps the work linear: a partial
 * match holds no other place a match could start.
 */
export function needleFinder(
  needle: Uint8Array,
): ((haystack: Uint8Array, from: number, end: number) => number) | null {
  const wasm = scanModule();
  const m = needle.length;
  if (!wasm || m < 2 || m > MAX_NEEDLE || needle.indexOf(needle[0], 1) !== -1) return null;
  return (haystack, from, end) => {
    new Uint8Array(wasm.memory.buffer, NEEDLE, m).set(needle);
    end = Math.min(end, haystack.length);
    // A match at `at` needs m bytes, so windows overlap by m - 1 bytes.
    for (let start = Math.max(0, from), stop = 0; start + m <= end; start = stop - m + 1) {
      stop = Math.min(end, start + WINDOW + m - 1);
      load(wasm, haystack, start, stop);
      const found = wasm.findNeedle(0, stop - start, m);
      if (found !== -1) return start + found;
    }
    return -1;
  };
}
