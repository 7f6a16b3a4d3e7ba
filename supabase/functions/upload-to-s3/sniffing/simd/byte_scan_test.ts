import assert from "node:assert/strict";
import { ARCHIVE_PAIRS } from "../archives.ts";
import { MARKUP_PAIRS_ANY } from "../markup.ts";
import { fixture } from "../../../../../tests/support/bytes.ts";
import { horspool } from "../../multipart.ts";
import {
  needleFinder,
  nextJpegMarker,
  nextJpegMarkerJs,
  nextPairJs,
  pairScanner,
  simdScansAvailable,
  vectorTestCovers,
} from "./byte_scan.ts";

/** The table sniff.ts scans every byte with. */
const EVERY_BYTE_PAIRS = MARKUP_PAIRS_ANY.map((markup, pair) => markup | ARCHIVE_PAIRS[pair]);

/** Deterministic noise: the same bytes every run. */
function noise(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** Noise with `pairs` (two bytes each) written at `offsets`. */
function withPairs(length: number, seed: number, offsets: number[], pair: [number, number]) {
  const bytes = noise(length, seed);
  for (const at of offsets) {
    if (at >= 0 && at < length) bytes[at] = pair[0];
    if (at + 1 >= 0 && at + 1 < length) bytes[at + 1] = pair[1];
  }
  return bytes;
}

function allPairsJs(table: Uint8Array, bytes: Uint8Array): number[] {
  const found: number[] = [];
  for (let at = nextPairJs(table, bytes, 0); at !== -1; at = nextPairJs(table, bytes, at + 1)) {
    found.push(at);
  }
  return found;
}

function allPairs(table: Uint8Array, bytes: Uint8Array): number[] {
  const found: number[] = [];
  pairScanner(table)(bytes, (at) => found.push(at));
  return found;
}

function allMarkers(next: (bytes: Uint8Array, from: number) => number, bytes: Uint8Array) {
  const found: number[] = [];
  for (let at = next(bytes, 0); at !== -1; at = next(bytes, at + 1)) found.push(at);
  return found;
}

/** Lengths around the 64 KiB window and the 16-byte step, where an off-by-one would hide. */
const LENGTHS = [0, 1, 2, 15, 16, 17, 33, 65_535, 65_536, 65_537, 65_538, 131_073, 200_001];
/** Offsets around window and step edges. */
const EDGES = [0, 1, 14, 15, 16, 65_534, 65_535, 65_536, 65_537, 131_071, 131_072, 131_073];

Deno.test("byte_scan: WebAssembly SIMD is available in Deno, so these tests exercise it", () => {
  assert.equal(simdScansAvailable(), true);
  assert.equal(vectorTestCovers(EVERY_BYTE_PAIRS), true);
});

Deno.test("pairScanner() visits exactly the offsets the JavaScript scan finds, in order", () => {
  const pairs: Array<[number, number]> = [
    [0x3c, 0x73],
    [0x74, 0x3a],
    [0x00, 0x3a],
    [0x50, 0x4b],
    [
      0x52,
      0x61,
    ],
    [0x37, 0x7a],
    [0x3c, 0x00],
  ];
  for (const length of LENGTHS) {
    for (const [i, pair] of pairs.entries()) {
      const bytes = withPairs(length, length + i, EDGES.map((edge) => edge % (length || 1)), pair);
      assert.deepEqual(
        allPairs(EVERY_BYTE_PAIRS, bytes),
        allPairsJs(EVERY_BYTE_PAIRS, bytes),
        `length ${length}, pair ${pair}`,
      );
    }
  }
  const jpeg = fixture("product.jpg");
  assert.deepEqual(allPairs(EVERY_BYTE_PAIRS, jpeg), allPairsJs(EVERY_BYTE_PAIRS, jpeg));
});

Deno.test("pairScanner() finds a pair in the last two bytes and one split by a window edge", () => {
  const bytes = new Uint8Array(65_542); // zeros: no pair but those written
  bytes.set([0x50, 0x4b], 65_535); // "PK" across the first window's end
  bytes.set([0x37, 0x7a], 65_537); // "7z" right after it
  bytes[bytes.length - 2] = 0x3c; // "<" then a zero: UTF-16 markup's start, in the last two bytes
  const found = allPairs(EVERY_BYTE_PAIRS, bytes);
  assert.deepEqual(found, allPairsJs(EVERY_BYTE_PAIRS, bytes));
  for (const at of [65_535, 65_537, bytes.length - 2]) assert.ok(found.includes(at), `${at}`);
});

Deno.test("pairScanner() stops when its visitor throws", () => {
  const bytes = withPairs(100_000, 7, [10, 70_000, 90_000], [0x50, 0x4b]);
  const seen: number[] = [];
  assert.throws(() =>
    pairScanner(EVERY_BYTE_PAIRS)(bytes, (at) => {
      seen.push(at);
      if (at >= 70_000) throw new Error("stop");
    })
  );
  assert.equal(seen.at(-1), allPairsJs(EVERY_BYTE_PAIRS, bytes).find((at) => at >= 70_000));
});

Deno.test("pairScanner() falls back to JavaScript for a table its vector test would miss", () => {
  const table = new Uint8Array(65_536);
  table[(0x41 << 8) | 0x42] = 1; // "AB": neither "<…", "…:" nor an archive's pair
  assert.equal(vectorTestCovers(table), false);
  const bytes = withPairs(70_000, 3, [5, 65_535, 69_998], [0x41, 0x42]);
  const found = allPairs(table, bytes);
  assert.deepEqual(found, allPairsJs(table, bytes));
  for (const at of [5, 65_535, 69_998]) assert.ok(found.includes(at), `${at}`);
});

Deno.test("pairScanner() scanners with different tables do not see each other's", () => {
  const onlyPk = new Uint8Array(65_536);
  onlyPk[0x504b] = 1;
  const bytes = withPairs(5_000, 11, [100], [0x50, 0x4b]);
  bytes.set([0x3c, 0x73], 200);
  const pk = pairScanner(onlyPk);
  const every = pairScanner(EVERY_BYTE_PAIRS);
  for (let round = 0; round < 2; round++) {
    const a: number[] = [];
    pk(bytes, (at) => a.push(at));
    const b: number[] = [];
    every(bytes, (at) => b.push(at));
    assert.deepEqual(a, allPairsJs(onlyPk, bytes));
    assert.deepEqual(b, allPairsJs(EVERY_BYTE_PAIRS, bytes));
  }
});

Deno.test("nextJpegMarker() finds exactly the markers the JavaScript scan finds", () => {
  const cases: Array<[number, number]> = [[0xff, 0x00], [0xff, 0xd9], [0xff, 0xd3], [0xff, 0xff], [
    0xff,
    0xc4,
  ], [0xff, 0xd8]];
  for (const length of LENGTHS) {
    for (const [i, pair] of cases.entries()) {
      const bytes = withPairs(length, 99 + length + i, EDGES.map((e) => e % (length || 1)), pair);
      assert.deepEqual(
        allMarkers(nextJpegMarker, bytes),
        allMarkers(nextJpegMarkerJs, bytes),
        `length ${length}, pair ${pair}`,
      );
      for (const from of [0, 1, 16, 65_535, 65_536, length - 2, length - 1, length]) {
        assert.equal(nextJpegMarker(bytes, from), nextJpegMarkerJs(bytes, from), `from ${from}`);
      }
    }
  }
  const jpeg = fixture("product.jpg");
  assert.deepEqual(allMarkers(nextJpegMarker, jpeg), allMarkers(nextJpegMarkerJs, jpeg));
});

Deno.test("nextJpegMarker() skips stuffing, fill and restarts, and a 0xFF in the last byte", () => {
  const bytes = new Uint8Array(70_000).fill(0x11);
  bytes.set([0xff, 0x00], 10); // stuffed
  bytes.set([0xff, 0xd0], 20); // RST0
  bytes.set([0xff, 0xd7], 30); // RST7
  bytes.set([0xff, 0xff, 0xff], 65_534); // fill, across the window edge…
  bytes[65_537] = 0xd9; // …ending in EOI: the marker is the last 0xFF
  assert.equal(nextJpegMarker(bytes, 0), 65_536);
  assert.equal(nextJpegMarker(bytes, 65_537), -1);
  bytes[bytes.length - 1] = 0xff;
  assert.equal(nextJpegMarker(bytes, 65_537), -1, "a 0xFF with nothing after it is no marker");
});

/** Every match of `needle` in `haystack`, one search after another, the way `search` finds them. */
function allMatches(
  search: (haystack: Uint8Array, from: number, end: number) => number,
  haystack: Uint8Array,
  end = haystack.length,
): number[] {
  const found: number[] = [];
  for (let at = search(haystack, 0, end); at !== -1; at = search(haystack, at + 1, end)) {
    found.push(at);
  }
  return found;
}

Deno.test("needleFinder() finds a multipart delimiter exactly where Horspool's search does", () => {
  const encoder = new TextEncoder();
  for (const boundary of ["x", "----3148226193207505652779499364", "a".repeat(70)]) {
    const needle = encoder.encode(`\r\n--${boundary}`);
    const find = needleFinder(needle);
    assert.ok(find, boundary);
    const reference = (haystack: Uint8Array, from: number, end: number) =>
      horspool(haystack, needle, from, end);
    for (const length of LENGTHS) {
      const haystack = noise(length, length + needle.length);
      for (const edge of EDGES) {
        // Whole delimiters straddling every edge, and ones cut short by a byte.
        for (const [shift, cut] of [[0, 0], [-needle.length + 1, 0], [-3, 1]]) {
          const at = edge + shift;
          if (at < 0 || at + needle.length - cut > length) continue;
          haystack.set(needle.subarray(0, needle.length - cut), at);
        }
      }
      assert.deepEqual(allMatches(find, haystack), allMatches(reference, haystack), `${length}`);
      const until = Math.floor(length / 2);
      assert.deepEqual(
        allMatches(find, haystack, until),
        allMatches(reference, haystack, until),
        `${length} until ${until}`,
      );
    }
  }
});

Deno.test("needleFinder() finds a needle in the last bytes and none in a body of its filler", () => {
  const needle = new TextEncoder().encode(`\r\n--${"a".repeat(70)}`);
  const find = needleFinder(needle)!;
  const haystack = new Uint8Array(200_000).fill(0x61); // 'a', as the worst-case benchmark sends
  assert.equal(find(haystack, 0, haystack.length), -1);
  haystack.set(needle, haystack.length - needle.length);
  assert.equal(find(haystack, 0, haystack.length), haystack.length - needle.length);
  assert.equal(find(haystack, 0, haystack.length - 1), -1, "cut off by `end`");
});

Deno.test("needleFinder() declines a needle whose first byte repeats, or too short or long", () => {
  const encoder = new TextEncoder();
  assert.equal(needleFinder(encoder.encode("--boundary")), null); // "-" again at 1
  assert.equal(needleFinder(encoder.encode("\r")), null);
  assert.equal(needleFinder(new Uint8Array(129).fill(1, 1)), null);
  assert.ok(needleFinder(encoder.encode("\r\n")));
});

Deno.test("needleFinder() finds a lone needle at every offset around a window edge", () => {
  const needle = new TextEncoder().encode(`\r\n--${"7".repeat(30)}`);
  const find = needleFinder(needle)!;
  for (let at = 65_536 - 2 * needle.length; at <= 65_536 + 2 * needle.length; at++) {
    const haystack = new Uint8Array(140_000);
    haystack.set(needle, at);
    assert.equal(find(haystack, 0, haystack.length), at, `at ${at}`);
  }
});

Deno.test("pairScanner() and nextJpegMarker() find a lone hit at every offset around a window edge", () => {
  for (let at = 65_500; at <= 65_570; at++) {
    const bytes = new Uint8Array(140_000);
    bytes.set([0x50, 0x4b], at);
    assert.deepEqual(allPairs(EVERY_BYTE_PAIRS, bytes), [at], `pair at ${at}`);
    bytes.set([0xff, 0xd9], at);
    assert.equal(nextJpegMarker(bytes, 0), at, `marker at ${at}`);
  }
});
