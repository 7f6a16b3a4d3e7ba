/**
 * Run: `deno bench --allow-read supabase/functions/upload-to-s3/sniffing/sniff_bench.ts`.
 * `inspectImage()` on a 1 MiB JPEG and a 1 MiB PNG, the upload benchmark's hot path. Their pixel
 * data is seeded noise, so every byte value (and a `<`, `:` or `P` every ~256 bytes) occurs as in
 * a real photo's compressed data; each also carries an XMP packet, the PNG a compressed comment.
 */
import { concat, fixture, text } from "../../../../tests/support/bytes.ts";
import { deflateSync } from "node:zlib";
import { inspectImage } from "./sniff.ts";
import { be32, pngChunk } from "./testdata/build.ts";

const XMP = Deno.readFileSync(new URL("./testdata/camera_xmp.xml", import.meta.url));

/** `size` bytes of seeded noise; `stuff` adds JPEG's 0x00 after every 0xFF. */
function noise(size: number, stuff: boolean): Uint8Array {
  const out = new Uint8Array(size + (stuff ? size >> 7 : 0) + 16);
  let state = 12345;
  let at = 0;
  while (at < size) {
    state = (state * 1_103_515_245 + 12_345) >>> 0;
    const byte = state >>> 24;
    out[at++] = byte;
    if (stuff && byte === 0xff) out[at++] = 0x00; // byte stuffing, as in real scan data
  }
  return out.subarray(0, at);
}

/** `fixture("product.jpg")` with an XMP APP1 and its scan data replaced by `size` bytes of noise. */
function noisyJpeg(size: number): Uint8Array {
  const jpeg = fixture("product.jpg");
  let sos = 2;
  while (!(jpeg[sos] === 0xff && jpeg[sos + 1] === 0xda)) {
    sos += 2 + ((jpeg[sos + 2] << 8) | jpeg[sos + 3]);
  }
  const headerEnd = sos + 2 + ((jpeg[sos + 2] << 8) | jpeg[sos + 3]);
  const xmp = concat(text("http://ns.adobe.com/xap/1.0/\0"), XMP);
  const app1 = concat(
    new Uint8Array([0xff, 0xe1, (xmp.length + 2) >> 8, (xmp.length + 2) & 255]),
    xmp,
  );
  return concat(
    jpeg.subarray(0, 2),
    app1,
    jpeg.subarray(2, headerEnd),
    noise(size, true),
    new Uint8Array([0xff, 0xd9]),
  );
}

/** A PNG with an XMP iTXt, a compressed zTXt comment and `size` bytes of noise in 64 KiB IDATs. */
function noisyPng(size: number): Uint8Array {
  const ihdr = concat(be32(1024), be32(1024), new Uint8Array([8, 2, 0, 0, 0]));
  const pixels = noise(size, false);
  const idats: Uint8Array[] = [];
  for (let at = 0; at < pixels.length; at += 65_536) {
    idats.push(pngChunk("IDAT", pixels.subarray(at, at + 65_536)));
  }
  return concat(
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("iTXt", concat(text("XML:com.adobe.xmp\0\0\0\0\0"), XMP)),
    pngChunk(
      "zTXt",
      concat(text("Comment\0\0"), deflateSync(text("Product shot, studio B, 2026. ".repeat(40)))),
    ),
    ...idats,
    pngChunk("IEND", new Uint8Array(0)),
  );
}

const JPEG_1MIB = noisyJpeg(1 << 20);
const PNG_1MIB = noisyPng(1 << 20);

Deno.bench("inspectImage() on a 1 MiB JPEG", () => {
  inspectImage(JPEG_1MIB, { maxPixels: 40_000_000 });
});

Deno.bench("inspectImage() on a 1 MiB PNG", () => {
  inspectImage(PNG_1MIB, { maxPixels: 40_000_000 });
});
