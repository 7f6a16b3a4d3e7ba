/**
 * The pixel ceiling sees every frame, item and track, not only the declared canvas.
 */
import assert from "node:assert/strict";
import { concat, fixture } from "../../../../tests/support/bytes.ts";
import type { AppError } from "../../_shared/errors.ts";
import { inspectImage, type InspectOptions } from "./sniff.ts";
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
  track,
  vp8l,
  vp8x,
  webp,
} from "./testdata/build.ts";

const CEILING: InspectOptions = { maxPixels: 40_000_000 };

function assertRefused(
  bytes: Uint8Array,
  code: string,
  message?: RegExp,
  options: InspectOptions = CEILING,
) {
  assert.throws(() => inspectImage(bytes, options), (error: AppError) => {
    assert.equal(error.code, code, error.message);
    assert.ok(error.status >= 400 && error.status < 500, `status ${error.status}`);
    if (message) assert.match(error.message, message);
    return true;
  });
}

const size = (bytes: Uint8Array, options: InspectOptions = CEILING) => {
  const { width, height } = inspectImage(bytes, options);
  return [width, height];
};

Deno.test("inspectImage() accepts the small animations the builders make", () => {
  assert.deepEqual(size(gif({ width: 100, height: 80 }, [{ width: 100, height: 80 }])), [100, 80]);
  const frames = [{ width: 32, height: 32 }, { width: 16, height: 16, x: 8, y: 8 }];
  assert.deepEqual(size(apng(32, 32, frames)), [32, 32]);
  assert.deepEqual(size(webp(vp8x(64, 48, true), anmf({ width: 64, height: 48 }))), [64, 48]);
  assert.deepEqual(size(avifSequence([track(320, 240, 10)])), [320, 240]);
});

Deno.test("inspectImage() reports a GIF's real canvas when a frame is larger than its screen", () => {
  const huge = gif({ width: 1, height: 1 }, [{ width: 10_000, height: 10_000 }]);
  assertRefused(huge, "image_too_large", /10000 × 10000/);
  assert.deepEqual(size(huge, {}), [10_000, 10_000]);
});

Deno.test("inspectImage() counts a GIF frame placed outside the logical screen", () => {
  const far = gif({ width: 1, height: 1 }, [{ width: 1, height: 1 }, {
    width: 8_000,
    height: 1,
    x: 0,
    y: 60_000,
  }]);
  assert.deepEqual(size(far, {}), [8_000, 60_001]);
  assertRefused(far, "image_too_large", /8000 × 60001/);
});

Deno.test("inspectImage() refuses GIF frame bombs: too many frames, or frames × area too large", () => {
  const many = gif(
    { width: 1, height: 1 },
    Array.from({ length: 1_001 }, () => ({ width: 1, height: 1 })),
  );
  assertRefused(many, "image_too_large", /1,001 frames/);
  const heavy = gif(
    { width: 2_000, height: 2_000 },
    Array.from({ length: 50 }, () => ({ width: 2_000, height: 2_000 })),
  );
  assertRefused(heavy, "image_too_large", /200,000,000 pixels \(50 frames/);
  assert.deepEqual(size(heavy, { maxPixels: 40_000_000, maxTotalPixels: 200_000_000 }), [
    2_000,
    2_000,
  ]);
});

Deno.test("inspectImage() refuses an APNG frame larger than its canvas", () => {
  const bomb = apng(16, 16, [{ width: 16, height: 16 }, { width: 50_000, height: 50_000 }]);
  assertRefused(bomb, "corrupt_image", /frame 2 \(50000 × 50000 at 0, 0\) lies outside/);
});

Deno.test("inspectImage() refuses an APNG whose frames together decode to too many pixels", () => {
  const frames = Array.from({ length: 20 }, () => ({ width: 6_000, height: 6_000 }));
  assertRefused(apng(6_000, 6_000, frames), "image_too_large", /20 frames/);
  assert.deepEqual(size(apng(6_000, 6_000, frames.slice(0, 4))), [6_000, 6_000]);
});

Deno.test("inspectImage() refuses a JPEG with a second, huge frame header (either order)", () => {
  const jpeg = fixture("product.jpg");
  const sof = concat(
    new Uint8Array([0xff, 0xc0]),
    be16(11),
    new Uint8Array([8]),
    be16(50_000),
    be16(50_000),
    new Uint8Array([1, 1, 0x11, 0]),
  );
  assertRefused(concat(jpeg.subarray(0, 2), sof, jpeg.subarray(2)), "image_too_large", /50000/);
  const sos = jpeg.findLastIndex((b, i) => b === 0xff && jpeg[i + 1] === 0xda);
  assertRefused(concat(jpeg.subarray(0, sos), sof, jpeg.subarray(sos)), "image_too_large");
});

Deno.test("inspectImage() refuses a WebP whose bitstream is larger than its VP8X canvas", () => {
  assertRefused(webp(vp8x(1, 1), vp8l(16_000, 16_000)), "image_too_large", /16000 × 16000/);
});

Deno.test("inspectImage() refuses WebP animation frames outside the canvas or too many", () => {
  const outside = webp(vp8x(64, 48, true), anmf({ width: 64, height: 48, x: 2 }));
  assertRefused(outside, "corrupt_image", /lies outside the canvas/);
  const frames = Array.from({ length: 1_001 }, () => anmf({ width: 1, height: 1 }));
  assertRefused(webp(vp8x(1, 1, true), ...frames), "image_too_large", /1,001 frames/);
});

Deno.test("inspectImage() reads an AVIF sequence's tracks: size and sample count", () => {
  const still = box("iprp", box("ipco", ispe(64, 48)));
  assertRefused(avifSequence([track(10_000, 10_000, 1)], [still]), "image_too_large", /10000/);
  assertRefused(avifSequence([track(64, 48, 100_000)], [still]), "image_too_large", /frames/);
  assert.deepEqual(size(avifSequence([track(64, 48, 24)], [still])), [64, 48]);
});

Deno.test("inspectImage() takes an AVIF grid item's output size, not only its ispe", () => {
  const grid = concat(new Uint8Array([0, 0, 1, 1]), be16(20_000), be16(20_000));
  const gridAvif = (data: Uint8Array) =>
    avif([
      iinf([[1, "grid"]]),
      iloc([{ id: 1, method: 1, offset: 0, length: data.length }]),
      box("idat", data),
      box("iprp", box("ipco", ispe(64, 48))),
    ]);
  assertRefused(gridAvif(grid), "image_too_large", /20000 × 20000/);
  const small = concat(new Uint8Array([0, 0, 1, 1]), be16(64), be16(48));
  assert.deepEqual(size(gridAvif(small)), [64, 48]);
});

Deno.test("inspectImage() refuses an AVIF item whose data lies outside the file", () => {
  const outside = (offset: number) =>
    avif([
      iinf([[1, "av01"]]),
      iloc([{ id: 1, method: 0, offset, length: 8 }]),
      box("iprp", box("ipco", ispe(64, 48))),
    ]);
  const ok = outside(0);
  const mdatBody = ok.length - 16;
  assert.deepEqual(size(outside(mdatBody)), [64, 48]);
  assertRefused(outside(mdatBody + 12), "corrupt_image", /outside the file's media data/);
  assertRefused(outside(1_000_000), "corrupt_image", /outside the file's media data/);
});

Deno.test("inspectImage() answers 422 for deeply nested AVIF boxes instead of crashing", () => {
  const depth = 100_000;
  const nested = new Uint8Array(8 * depth);
  const view = new DataView(nested.buffer);
  for (let i = 0; i < depth; i++) {
    view.setUint32(8 * i, 8 * (depth - i));
    nested.set([0x69, 0x70, 0x63, 0x6f], 8 * i + 4); // "ipco"
  }
  assertRefused(avif([box("iprp", nested)]), "corrupt_image", /nested more than 16 deep/);
});

Deno.test("inspectImage() refuses a file made of too many empty parts", () => {
  const count = 100_001;
  const boxes = new Uint8Array(8 * count);
  for (let i = 0; i < count; i++) boxes.set([0, 0, 0, 8, 0x66, 0x72, 0x65, 0x65], 8 * i); // "free"
  assertRefused(concat(avif(), boxes), "corrupt_image", /more than 100,000 boxes/);
});
