/**
 * Nothing rides along: no byte after an image's structural end, in any format, and no markup in
 * it (while compressed pixels that happen to spell a short tag are no false alarm).
 */
import assert from "node:assert/strict";
import { samplePng } from "../../../../scripts/lib/png.ts";
import { concat, fixture, text } from "../../../../tests/support/bytes.ts";
import type { AppError } from "../../_shared/errors.ts";
import { inspectImage } from "./sniff.ts";
import {
  avif,
  box,
  gif,
  iinf,
  iloc,
  ispe,
  mpfJpeg,
  pngChunk,
  riffChunk,
  vp8l,
  vp8x,
  webp,
} from "./testdata/build.ts";

const JPEG = fixture("product.jpg");
const WEBP = fixture("product.webp");
const AVIF = fixture("product.avif");
const GIF = fixture("pixel.gif");
const PNG = samplePng(7, 160, 120);

function assertRefused(bytes: Uint8Array, code: string, message?: RegExp) {
  assert.throws(() => inspectImage(bytes), (error: AppError) => {
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

Deno.test("inspectImage() refuses any bytes appended to an image of every format", () => {
  const cases = { JPEG, PNG, WEBP, GIF, AVIF };
  for (const [name, image] of Object.entries(cases)) {
    for (const extra of [text("PK\x03\x04zip"), JPEG, new Uint8Array([1])]) {
      assert.throws(
        () => inspectImage(concat(image, extra)),
        (error: AppError) => error.code === "polyglot_refused" && /extra bytes/.test(error.message),
        `${name} + ${extra.length} bytes`,
      );
    }
  }
});

Deno.test("inspectImage() refuses a second picture after a JPEG's EOI unless MPF declares it", () => {
  // Without an index (a Motion Photo's video, a vendor trailer, any appended file): refused.
  assertRefused(concat(JPEG, JPEG), "polyglot_refused", new RegExp(`${JPEG.length} extra bytes`));
  // Declared by an MPF index, as phones store depth and gain maps: a whole JPEG, accepted.
  assert.equal(inspectImage(mpfJpeg(JPEG, JPEG)).width, 64);
  assertRefused(concat(mpfJpeg(JPEG, JPEG), text("x")), "polyglot_refused");
  assertRefused(mpfJpeg(JPEG, concat(JPEG, text("<?php"))), "polyglot_refused");
  assertRefused(mpfJpeg(JPEG, text("not a jpeg")), "corrupt_image", /not a JPEG/);
  // The declared picture is a frame like any other: under the pixel ceiling.
  const huge = JPEG.slice();
  const sof = huge.findIndex((b, i) => b === 0xff && huge[i + 1] === 0xc0);
  new DataView(huge.buffer).setUint16(sof + 5, 50_000);
  new DataView(huge.buffer).setUint16(sof + 7, 50_000);
  assert.throws(
    () => inspectImage(mpfJpeg(JPEG, huge), { maxPixels: 40_000_000 }),
    (error: AppError) => error.code === "image_too_large" && /50000 × 50000/.test(error.message),
  );
});

Deno.test("inspectImage() accepts up to 4 KiB of one fill byte after a JPEG's EOI", () => {
  assert.equal(inspectImage(concat(JPEG, new Uint8Array(64))).width, 64);
  assert.equal(inspectImage(concat(JPEG, new Uint8Array(4096).fill(0xff))).width, 64);
  assertRefused(concat(JPEG, new Uint8Array(4097)), "polyglot_refused");
  assertRefused(concat(JPEG, new Uint8Array(8), new Uint8Array([0xff])), "polyglot_refused");
});

Deno.test("inspectImage() takes RIFF's pad byte after an odd-sized WebP, nothing more", () => {
  const odd = webp(vp8x(64, 48), vp8l(64, 48), riffChunk("XMP ", text("x")).subarray(0, 9));
  assert.equal(new DataView(odd.buffer).getUint32(4, true) % 2, 1);
  assert.equal(inspectImage(odd).width, 64);
  assert.equal(inspectImage(concat(odd, new Uint8Array(1))).width, 64);
  assertRefused(concat(odd, new Uint8Array(2)), "polyglot_refused");
  assertRefused(concat(odd, new Uint8Array([7])), "polyglot_refused");
});

Deno.test("inspectImage() refuses AVIF top-level boxes that are not part of an image", () => {
  assertRefused(concat(AVIF, box("zzzz", text("payload"))), "polyglot_refused");
  assertRefused(concat(AVIF, box("free", new Uint8Array(5000))), "polyglot_refused", /unused/);
  assert.equal(inspectImage(concat(AVIF, box("free", text("GPAC")))).width, 64);
  assertRefused(concat(AVIF, box("moof")), "unsupported_media_type", /Fragmented/);
});

Deno.test("inspectImage() refuses markup in metadata of every format", () => {
  const script = text("<script>alert(1)</script>");
  const png = concat(
    PNG.subarray(0, 33),
    pngChunk("tEXt", concat(text("Comment\0"), script)),
    PNG.subarray(33),
  );
  assertRefused(png, "polyglot_refused", /metadata contains "<script"/);
  const comment = concat(new Uint8Array([0x21, 0xfe, script.length]), script, new Uint8Array([0]));
  assertRefused(concat(GIF.subarray(0, 19), comment, GIF.subarray(19)), "polyglot_refused");
  assertRefused(
    webp(vp8x(8, 8), vp8l(8, 8), riffChunk("XMP ", text("<svg onload=x>"))),
    "polyglot_refused",
  );
  // An Exif item whose one extent is the mdat's payload, the last bytes of the file (the
  // iloc's size does not depend on the offset, so the first build gives the offset).
  const exifAvif = (offset: number) =>
    avif([
      iinf([[1, "Exif"]]),
      iloc([{ id: 1, method: 0, offset, length: script.length }]),
      box("iprp", box("ipco", ispe(64, 48))),
    ], script);
  const exif = exifAvif(exifAvif(0).length - script.length);
  assertRefused(exif, "polyglot_refused", /<script/);
});

Deno.test("inspectImage() reads compressed pixels only for written-out dangerous markup", () => {
  // Scan data is noise that spells short tags by chance (no false alarm), but an HTML page hidden
  // there is refused (issue 18).
  const sos = JPEG.findLastIndex((b, i) => b === 0xff && JPEG[i + 1] === 0xda);
  const scanStart = sos + 2 + ((JPEG[sos + 2] << 8) | JPEG[sos + 3]);
  const inScan = (s: string) =>
    concat(JPEG.subarray(0, scanStart), text(s), JPEG.subarray(scanStart));
  assert.equal(inspectImage(inScan("<b> <td> <svg\x01")).width, 64);
  assertRefused(inScan("<script <svg>"), "polyglot_refused", /image data contains "<script"/);
  const frames = gif({ width: 2, height: 2 }, [{ width: 2, height: 2 }]);
  assert.equal(inspectImage(frames).width, 2);
});
