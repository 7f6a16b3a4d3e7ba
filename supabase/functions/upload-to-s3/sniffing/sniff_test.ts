import assert from "node:assert/strict";
import { samplePng } from "../../../../scripts/lib/png.ts";
import type { AppError } from "../../_shared/errors.ts";
import { detectFormat, findMarkup, inspectImage } from "./sniff.ts";
import { concat, fixture, text } from "../../../../tests/support/bytes.ts";

const JPEG = fixture("product.jpg");
const WEBP = fixture("product.webp");
const AVIF = fixture("product.avif");
const GIF = fixture("pixel.gif");
const PNG = samplePng(7, 160, 120);

function assertRefused(bytes: Uint8Array, code: string, status: number, message?: RegExp) {
  assert.throws(() => inspectImage(bytes), (error: AppError) => {
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    if (message) assert.match(error.message, message);
    return true;
  });
}

Deno.test("inspectImage() reads a real JPEG's type and size from its frame header", () => {
  assert.deepEqual(inspectImage(JPEG), {
    format: "jpeg",
    contentType: "image/jpeg",
    width: 64,
    height: 48,
  });
});

Deno.test("inspectImage() reads a real PNG's size from IHDR", () => {
  assert.deepEqual(inspectImage(PNG), {
    format: "png",
    contentType: "image/png",
    width: 160,
    height: 120,
  });
});

Deno.test("inspectImage() reads a real WebP (VP8X) and GIF", () => {
  assert.deepEqual(inspectImage(WEBP), {
    format: "webp",
    contentType: "image/webp",
    width: 64,
    height: 48,
  });
  assert.deepEqual(inspectImage(GIF), {
    format: "gif",
    contentType: "image/gif",
    width: 1,
    height: 1,
  });
});

Deno.test("inspectImage() reads an AVIF's size from its ispe property", () => {
  assert.deepEqual(inspectImage(AVIF), {
    format: "avif",
    contentType: "image/avif",
    width: 64,
    height: 48,
  });
});

function riff(chunkType: string, chunk: Uint8Array): Uint8Array {
  const padded = chunk.length % 2 ? concat(chunk, new Uint8Array(1)) : chunk;
  const body = concat(text("WEBP"), text(chunkType), le32(chunk.length), padded);
  return concat(text("RIFF"), le32(body.length), body);
}
function le32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, true);
  return out;
}

Deno.test("inspectImage() reads lossy VP8 and lossless VP8L WebP sizes", () => {
  const vp8 = new Uint8Array(10);
  vp8.set([0x9d, 0x01, 0x2a], 3);
  new DataView(vp8.buffer).setUint16(6, 300, true);
  new DataView(vp8.buffer).setUint16(8, 200, true);
  assert.deepEqual(inspectImage(riff("VP8 ", vp8)), {
    format: "webp",
    contentType: "image/webp",
    width: 300,
    height: 200,
  });
  const vp8l = new Uint8Array(5);
  vp8l[0] = 0x2f;
  new DataView(vp8l.buffer).setUint32(1, (640 - 1) | ((480 - 1) << 14), true);
  const info = inspectImage(riff("VP8L", vp8l));
  assert.equal(info.width, 640);
  assert.equal(info.height, 480);
});

Deno.test("inspectImage() refuses zero bytes as empty_file", () => {
  assertRefused(new Uint8Array(0), "empty_file", 400);
});

Deno.test("inspectImage() refuses SVG with a script as unsupported_media_type", () => {
  const svg = text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
  assertRefused(svg, "unsupported_media_type", 415, /SVG images are not accepted/);
  assertRefused(text('<?xml version="1.0"?>\n<svg><rect/></svg>'), "unsupported_media_type", 415);
});

Deno.test("inspectImage() refuses HTML, text and HEIC as unsupported_media_type", () => {
  assertRefused(
    text("<!DOCTYPE html><html><body>hi</body></html>"),
    "unsupported_media_type",
    415,
    /web page/,
  );
  assertRefused(text("just some text"), "unsupported_media_type", 415);
  const heic = concat(
    new Uint8Array([0, 0, 0, 24]),
    text("ftypheic"),
    new Uint8Array(4),
    text("mif1heic"),
  );
  assertRefused(heic, "unsupported_media_type", 415, /heic/);
});

Deno.test("inspectImage() refuses a format left out of the allowed list", () => {
  assert.throws(
    () => inspectImage(GIF, { allowed: ["jpeg", "png"] }),
    (error: AppError) => error.code === "unsupported_media_type" && /JPEG, PNG/.test(error.message),
  );
});

Deno.test("inspectImage() refuses truncated images of every format as corrupt_image", () => {
  for (const [name, bytes] of Object.entries({ JPEG, PNG, WEBP, GIF, AVIF })) {
    for (const cut of [1, 2, Math.floor(bytes.length / 2)]) {
      assert.throws(
        () => inspectImage(bytes.subarray(0, bytes.length - cut)),
        (error: AppError) => error.code === "corrupt_image",
        `${name} cut by ${cut}`,
      );
    }
  }
});

Deno.test("inspectImage() refuses a WebP whose RIFF size is larger than the file", () => {
  const short = WEBP.slice();
  new DataView(short.buffer).setUint32(4, WEBP.length + 100, true);
  assertRefused(short, "corrupt_image", 422, /incomplete/);
});

Deno.test("inspectImage() refuses a PNG with HTML appended after IEND as polyglot_refused", () => {
  const polyglot = concat(PNG, text("<html><script>alert(1)</script></html>"));
  assertRefused(polyglot, "polyglot_refused", 415, /extra bytes after its end/);
});

Deno.test("inspectImage() refuses bytes after a GIF trailer, a RIFF end or the last AVIF box", () => {
  assertRefused(concat(GIF, text("xx")), "polyglot_refused", 415);
  assertRefused(concat(WEBP, text("xxxx")), "polyglot_refused", 415);
  assertRefused(concat(AVIF, text("<?php echo 1; ?>")), "polyglot_refused", 415);
});

Deno.test("inspectImage() refuses markup hidden inside an image", () => {
  // A JPEG comment segment carrying a script, placed right after SOI.
  const comment = text("<SCRIPT>alert(1)</SCRIPT>");
  const com = concat(new Uint8Array([0xff, 0xfe, 0, comment.length + 2]), comment);
  const jpeg = concat(JPEG.subarray(0, 2), com, JPEG.subarray(2));
  assertRefused(jpeg, "polyglot_refused", 415, /<script/);
  // Markup after a JPEG's EOI is refused too (by structure: nothing but padding may follow EOI).
  assertRefused(concat(JPEG, text("<?PHP system($x);")), "polyglot_refused", 415);
});

Deno.test("inspectImage() accepts zero padding after a JPEG's EOI", () => {
  const info = inspectImage(concat(JPEG, new Uint8Array(64)));
  assert.equal(info.width, 64);
});

Deno.test("findMarkup() needs a tag name ended as HTML ends it (space, / or >)", () => {
  assert.equal(findMarkup(text("..<svg>")), "<svg");
  assert.equal(findMarkup(text("..<SVG width")), "<svg");
  assert.equal(findMarkup(text("..<svgx")), undefined);
  assert.equal(findMarkup(text("<htmlx <html\n")), "<html");
  assert.equal(findMarkup(text("a<scriptx")), undefined);
  assert.equal(findMarkup(text("a<script/src=x")), "<script");
  assert.equal(findMarkup(text("<!DocType HTML>")), "<!doctype");
  assert.equal(findMarkup(text("<svg")), undefined);
});

Deno.test("inspectImage() enforces the pixel ceiling against decompression bombs", () => {
  const bomb = samplePng(1, 16, 16);
  // Patch IHDR to claim 50,000 × 50,000 pixels (the header is all a decoder would trust).
  new DataView(bomb.buffer, bomb.byteOffset).setUint32(16, 50_000);
  new DataView(bomb.buffer, bomb.byteOffset).setUint32(20, 50_000);
  assert.throws(
    () => inspectImage(bomb, { maxPixels: 40_000_000 }),
    (error: AppError) =>
      error.code === "image_too_large" && error.status === 422 &&
      /50000 × 50000/.test(error.message),
  );
  assert.equal(inspectImage(PNG, { maxPixels: 160 * 120 }).width, 160);
  assert.throws(() => inspectImage(PNG, { maxPixels: 160 * 120 - 1 }), /pixels/);
});

Deno.test("inspectImage() refuses an image that claims zero width", () => {
  const flat = samplePng(1, 16, 16);
  new DataView(flat.buffer, flat.byteOffset).setUint32(16, 0);
  assertRefused(flat, "corrupt_image", 422, /width and height/);
});

Deno.test("detectFormat() needs only the first bytes", () => {
  assert.equal(detectFormat(JPEG.subarray(0, 32)), "jpeg");
  assert.equal(detectFormat(PNG.subarray(0, 32)), "png");
  assert.equal(detectFormat(WEBP.subarray(0, 32)), "webp");
  assert.equal(detectFormat(GIF.subarray(0, 32)), "gif");
  assert.equal(detectFormat(AVIF.subarray(0, 32)), "avif");
  assert.equal(detectFormat(text("<svg>")), undefined);
});
