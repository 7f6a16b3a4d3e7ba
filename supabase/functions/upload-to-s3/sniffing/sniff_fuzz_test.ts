/**
 * A small deterministic fuzz: every fixture mutated and cut many ways (seeded, so a failure
 * reproduces), and `inspectImage()` must either accept the result or refuse it with a 4xx
 * AppError: no input may become a 500.
 */
import assert from "node:assert/strict";
import { samplePng } from "../../../../scripts/lib/png.ts";
import { concat, fixture } from "../../../../tests/support/bytes.ts";
import { AppError } from "../../_shared/errors.ts";
import { inspectImage } from "./sniff.ts";
import {
  anmf,
  apng,
  avif,
  avifSequence,
  be16,
  box,
  gif,
  iinf,
  iloc,
  ispe,
  mpfJpeg,
  track,
  vp8x,
  webp,
} from "./testdata/build.ts";

const CASES = 2_000;

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const grid = concat(new Uint8Array([0, 0, 0, 1]), be16(64), be16(48));
const FIXTURES: Record<string, Uint8Array> = {
  jpeg: fixture("product.jpg"),
  png: samplePng(3, 24, 16),
  webp: fixture("product.webp"),
  gif: fixture("pixel.gif"),
  avif: fixture("product.avif"),
  jpegWithMpf: mpfJpeg(fixture("product.jpg"), fixture("product.jpg")),
  apng: apng(32, 32, [{ width: 32, height: 32 }, { width: 8, height: 8, x: 4, y: 4 }]),
  animatedGif: gif({ width: 8, height: 8 }, [{ width: 8, height: 8 }, { width: 4, height: 4 }]),
  animatedWebp: webp(
    vp8x(16, 16, true),
    anmf({ width: 16, height: 16 }),
    anmf({ width: 8, height: 8 }),
  ),
  avifSequence: avifSequence([track(64, 48, 3)], [box("iprp", box("ipco", ispe(64, 48)))]),
  avifGrid: avif([
    iinf([[1, "grid"], [2, "av01"]]),
    iloc([{ id: 1, method: 1, offset: 0, length: grid.length }, {
      id: 2,
      method: 1,
      offset: 0,
      length: 0, // the whole idat
    }]),
    box("idat", grid),
    box("iprp", box("ipco", ispe(64, 48))),
  ]),
};
const NAMES = Object.keys(FIXTURES);
const NESTING = ["meta", "moov", "trak", "iprp"];
const EXTREMES = [0, 1, 8, 16, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

/** One mutation of `bytes`, chosen by `random`; `other` is a second fixture to splice from. */
function mutate(bytes: Uint8Array, other: Uint8Array, random: () => number): Uint8Array {
  const at = (n = bytes.length) => Math.floor(random() * n);
  const out = bytes.slice();
  switch (at(8)) {
    case 0: // cut anywhere
      return bytes.slice(0, at());
    case 1: // a few random bytes
      for (let i = 1 + at(4); i > 0; i--) out[at()] = at(256);
      return out;
    case 2: { // a 32-bit field set to an extreme, either byte order
      const offset = at(Math.max(1, bytes.length - 4));
      new DataView(out.buffer).setUint32(offset, EXTREMES[at(EXTREMES.length)], random() < 0.5);
      return out;
    }
    case 3: { // random bytes inserted
      const offset = at();
      const noise = Uint8Array.from({ length: 1 + at(16) }, () => at(256));
      return concat(bytes.subarray(0, offset), noise, bytes.subarray(offset));
    }
    case 4: { // a slice deleted
      const from = at();
      return concat(bytes.subarray(0, from), bytes.subarray(from + 1 + at(32)));
    }
    case 5: { // a slice repeated
      const from = at();
      const slice = bytes.subarray(from, from + 1 + at(64));
      return concat(bytes.subarray(0, from), slice, slice, slice, bytes.subarray(from));
    }
    case 6: { // boxes nested as deep as a stack goes: "size 0 (to the end), meta, version"
      const header = [
        0,
        0,
        0,
        0,
        ...new TextEncoder().encode(NESTING[at(NESTING.length)]),
        0,
        0,
        0,
        0,
      ];
      const nested = new Uint8Array(header.length * (1 + at(20_000)));
      for (let i = 0; i < nested.length; i += header.length) nested.set(header, i);
      return concat(bytes, nested);
    }
    default: { // another file spliced in
      const offset = at();
      return concat(
        bytes.subarray(0, offset),
        other.subarray(at(other.length)),
        bytes.subarray(offset),
      );
    }
  }
}

Deno.test("inspectImage() answers every mutated fixture with a result or a 4xx AppError", () => {
  const random = prng(20261202);
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < CASES; i++) {
    const name = NAMES[i % NAMES.length];
    const other = FIXTURES[NAMES[Math.floor(random() * NAMES.length)]];
    const bytes = mutate(FIXTURES[name], other, random);
    let outcome = "accepted";
    try {
      inspectImage(bytes, { maxPixels: 40_000_000 });
    } catch (error) {
      assert.ok(error instanceof AppError, `case ${i} (${name}): ${error}`);
      assert.ok(error.status >= 400 && error.status < 500, `case ${i} (${name}): ${error.status}`);
      outcome = error.code;
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  // The mutations reach the parsers' refusals, not only the format check.
  for (const code of ["accepted", "corrupt_image", "polyglot_refused", "unsupported_media_type"]) {
    assert.ok((outcomes[code] ?? 0) > 0, `no case ended ${code}: ${JSON.stringify(outcomes)}`);
  }
});

Deno.test("inspectImage() accepts every fuzz fixture unmutated", () => {
  for (const [name, bytes] of Object.entries(FIXTURES)) {
    assert.ok(inspectImage(bytes, { maxPixels: 40_000_000 }).width > 0, name);
  }
});
