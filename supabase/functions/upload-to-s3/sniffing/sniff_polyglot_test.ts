/**
 * Issue 18's polyglots and markup: archives inside an image, and markup in every text-bearing
 * structure (PNG text chunks, compressed too; JPEG COM and APPn, Exif and XMP; UTF-16), in JPEG
 * scan data; and what must still pass (a real camera's XMP, escaped text, noise in the pixels).
 */
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { samplePng } from "../../../../scripts/lib/png.ts";
import { concat, fixture, text } from "../../../../tests/support/bytes.ts";
import type { AppError } from "../../_shared/errors.ts";
import { findArchive, findMarkup, inspectImage } from "./sniff.ts";
import {
  box,
  cameraXmp,
  exif,
  jpegWith,
  jpegWithScanData,
  pngChunk,
  pngWith,
  riffChunk,
  utf16,
  vp8l,
  vp8x,
  webp,
  zip,
} from "./testdata/build.ts";

const JPEG = fixture("product.jpg");
const PNG = samplePng(3, 16, 12);
const AVIF = fixture("product.avif");
const EVIL = text("<html><script>alert(document.domain)</script></html>");

function assertRefused(bytes: Uint8Array, code: string, message?: RegExp) {
  assert.throws(
    () => inspectImage(bytes),
    (error: AppError) => {
      assert.equal(error.code, code, error.message);
      if (message) assert.match(error.message, message);
      return true;
    },
  );
}

/** What the archives hold: a page, deflated as `zip` does, so only the archive is refused. */
const PAYLOAD = EVIL;

/**
 * A PNG with a ZIP in an ancillary chunk right after IHDR, whose end record's comment covers the
 * rest of the file (the chunk's CRC, the image's other chunks, IEND), so `unzip -l` lists it.
 */
const pngZipChunk = () =>
  pngWith(
    PNG,
    pngChunk(
      "ziPk",
      zip("evil.html", PAYLOAD, { commentLength: 4 + (PNG.length - 33), deflate: true }),
    ),
  );

Deno.test("inspectImage() refuses a ZIP in a PNG chunk whose comment covers the file's tail", () => {
  assertRefused(pngZipChunk(), "polyglot_refused", /PNG image but also holds a ZIP archive/);
});

Deno.test("inspectImage() refuses a ZIP in a JPEG comment and in an AVIF free box", () => {
  const archive = zip("evil.html", PAYLOAD, { deflate: true });
  assertRefused(
    jpegWith(JPEG, 0xfe, archive),
    "polyglot_refused",
    /JPEG image but also holds a ZIP/,
  );
  assertRefused(concat(AVIF, box("free", archive)), "polyglot_refused", /AVIF image .* ZIP/);
});

Deno.test("inspectImage() refuses a lone ZIP header or end record, a RAR and a 7z", () => {
  const [local, end] = [zip("a.html", EVIL).subarray(0, 30 + 6), zip("a", EVIL).subarray(-22)];
  assertRefused(jpegWith(JPEG, 0xfe, local), "polyglot_refused", /ZIP archive/);
  assertRefused(jpegWith(JPEG, 0xfe, concat(new Uint8Array(200), end)), "polyglot_refused");
  const rar = new Uint8Array([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00]);
  assertRefused(pngWith(PNG, pngChunk("raRr", rar)), "polyglot_refused", /RAR archive/);
  const sevenZip = new Uint8Array([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4]);
  assertRefused(pngWith(PNG, pngChunk("sevN", sevenZip)), "polyglot_refused", /7z archive/);
});

Deno.test("findArchive() ignores PK signatures no ZIP reader would take", () => {
  // An unknown method (0xFFFF), a zero-length name, an end record pointing past itself.
  const badLocal = new Uint8Array(40);
  badLocal.set([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0xff, 0xff]);
  assert.equal(findArchive(badLocal), undefined);
  const noName = zip("x", EVIL).slice(0, 60);
  noName[26] = noName[27] = 0;
  assert.equal(findArchive(noName), undefined);
  const endOnly = zip("a", EVIL).subarray(-22); // its directory would lie before byte 0
  assert.equal(findArchive(endOnly), undefined);
  assert.deepEqual(findArchive(concat(new Uint8Array(300), endOnly)), { kind: "ZIP", at: 300 });
});

Deno.test("inspectImage() refuses <img onerror>, <iframe> and <body onload> in PNG tEXt", () => {
  for (
    const markup of [
      "<img src=x onerror=alert(1)>",
      "<iframe src=//evil.example>",
      "<BODY onload=alert(1)>",
    ]
  ) {
    const png = pngWith(PNG, pngChunk("tEXt", concat(text("Description\0"), text(markup))));
    assertRefused(
      png,
      "polyglot_refused",
      /PNG image but its metadata contains "<(img|iframe|body)"/,
    );
  }
});

Deno.test("inspectImage() refuses <script> in a compressed zTXt and a compressed iTXt", () => {
  const script = deflateSync(text("A fine table.<script>alert(1)</script>"));
  const ztxt = pngChunk("zTXt", concat(text("Comment\0\0"), script));
  assertRefused(pngWith(PNG, ztxt), "polyglot_refused", /compressed text contains "<script"/);
  const itxt = pngChunk("iTXt", concat(text("Comment\0\x01\0en\0\0"), script));
  assertRefused(pngWith(PNG, itxt), "polyglot_refused", /compressed text contains "<script"/);
});

Deno.test("inspectImage() refuses a compressed PNG text that is broken or a bomb as corrupt", () => {
  const broken = pngChunk("zTXt", concat(text("Comment\0\0"), new Uint8Array([0x78, 0x9c, 1, 2])));
  assertRefused(pngWith(PNG, broken), "corrupt_image", /zTXt|does not decompress/);
  const bomb = pngChunk("zTXt", concat(text("Comment\0\0"), deflateSync(new Uint8Array(4 << 20))));
  assertRefused(pngWith(PNG, bomb), "corrupt_image", /100 times its size|decompression bomb/);
  const method = pngChunk("zTXt", concat(text("Comment\0\x07"), deflateSync(text("hi"))));
  assertRefused(pngWith(PNG, method), "corrupt_image", /unknown compression method/);
  // Many chunks each under the ratio: their sum is held to 1 MiB.
  let state = 7;
  const letters = new Uint8Array(120_000).map(() => {
    state = (state * 1_103_515_245 + 12_345) >>> 0;
    return 0x61 + (state >>> 24) % 26;
  });
  const part = pngChunk("zTXt", concat(text("C\0\0"), deflateSync(letters)));
  assertRefused(pngWith(PNG, ...Array(10).fill(part)), "corrupt_image", /more than 1 MiB/);
});

Deno.test("inspectImage() refuses UTF-16 <script> in a JPEG APP1 (Exif XPComment), either order", () => {
  const le = exif(0x9c9c, 1, utf16("<script>alert(1)</script>\0"));
  assertRefused(jpegWith(JPEG, 0xe1, le), "polyglot_refused", /<script/);
  const be = exif(0x9c9c, 1, utf16("<script>alert(1)</script>\0", true));
  assertRefused(jpegWith(JPEG, 0xe1, be), "polyglot_refused", /<script/);
});

Deno.test("inspectImage() refuses handlers and script URLs in Exif strings, markup in XMP", () => {
  const description = (value: string) => exif(0x010e, 2, text(`${value}\0`));
  assertRefused(
    jpegWith(JPEG, 0xe1, description('x" onmouseover="alert(1)')),
    "polyglot_refused",
    /onmouseover=/,
  );
  assertRefused(
    jpegWith(JPEG, 0xe1, description("<a href='java\tscript:alert(1)'>")),
    "polyglot_refused",
    /javascript:/,
  );
  const xmp = concat(
    text("http://ns.adobe.com/xap/1.0/\0"),
    text("<x:xmpmeta><a href=//x>hi</a></x:xmpmeta>"),
  );
  assertRefused(jpegWith(JPEG, 0xe1, xmp), "polyglot_refused", /metadata contains "<a"/);
  assertRefused(jpegWith(JPEG, 0xfe, text("Nice <b>table</b>")), "polyglot_refused", /"<b"/);
});

Deno.test("inspectImage() refuses HTML in JPEG scan data", () => {
  const page = text("<html><body><img src=x onerror=alert(1)></body></html>");
  assertRefused(jpegWithScanData(JPEG, page), "polyglot_refused", /image data contains "<html"/);
  assertRefused(jpegWithScanData(JPEG, text("<svg/onload=alert(1)>")), "polyglot_refused", /<svg/);
  assertRefused(jpegWithScanData(JPEG, text("<script>")), "polyglot_refused", /<script/);
});

Deno.test("inspectImage() accepts a real camera's XMP in JPEG, PNG (plain and compressed) and WebP", () => {
  const xmp = cameraXmp();
  assert.equal(findMarkup(xmp), undefined);
  const app1 = concat(text("http://ns.adobe.com/xap/1.0/\0"), xmp);
  assert.equal(inspectImage(jpegWith(JPEG, 0xe1, app1)).format, "jpeg");
  const itxt = pngChunk("iTXt", concat(text("XML:com.adobe.xmp\0\0\0\0\0"), xmp));
  assert.equal(inspectImage(pngWith(PNG, itxt)).format, "png");
  const packed = pngChunk("iTXt", concat(text("XML:com.adobe.xmp\0\x01\0\0\0"), deflateSync(xmp)));
  assert.equal(inspectImage(pngWith(PNG, packed)).format, "png");
  assert.equal(inspectImage(webp(vp8x(8, 8), vp8l(8, 8), riffChunk("XMP ", xmp))).format, "webp");
});

Deno.test("inspectImage() accepts ordinary text: Exif strings, escaped markup, a < in prose", () => {
  const strings = [
    "Canon EOS R5",
    "Walnut side table &lt;b&gt;45 cm&lt;/b&gt;; price < 200 EUR; see https://shop.example.com",
    "a < b and 3<4, on request = matte black, <3, 10:30, ratio=2",
  ];
  for (const value of strings) {
    assert.equal(inspectImage(jpegWith(JPEG, 0xe1, exif(0x010e, 2, text(`${value}\0`)))).width, 64);
    assert.equal(inspectImage(jpegWith(JPEG, 0xfe, text(value))).width, 64);
    const png = pngWith(PNG, pngChunk("tEXt", concat(text("Comment\0"), text(value))));
    assert.equal(inspectImage(png).width, 16);
  }
  const xpTitle = exif(0x9c9b, 1, utf16("Table d'appoint « Onda » <noyer>\0"));
  assert.equal(inspectImage(jpegWith(JPEG, 0xe1, xpTitle)).width, 64);
});

Deno.test("inspectImage() is no false alarm on noise: short tags spelled by compressed pixels", () => {
  // Compressed pixels spell anything short: tags of three letters or fewer pass unless written
  // out, and seeded noise (1 MiB each, four seeds) passes whole.
  for (const spelled of ["<b>", "<td ", "<svg", "<img\x01x", "<a href=", "onload="]) {
    assert.equal(inspectImage(jpegWithScanData(JPEG, text(spelled))).width, 64, spelled);
  }
  for (const seed of [1, 2, 3, 4]) {
    const noise = new Uint8Array(1 << 20);
    let state = seed;
    let at = 0;
    while (at < noise.length - 1) {
      state = (state * 1_103_515_245 + 12_345) >>> 0;
      noise[at++] = state >>> 24;
      if (noise[at - 1] === 0xff) noise[at++] = 0; // byte stuffing
    }
    noise[noise.length - 1] = 0;
    assert.equal(inspectImage(jpegWithScanData(JPEG, noise)).width, 64, `seed ${seed}`);
  }
});

Deno.test("findMarkup() reads UTF-16 only where the anchor itself is a UTF-16 character", () => {
  // " onload" in UTF-16BE, then "A<" as single bytes: the "<" is no UTF-16BE character, so no
  // handler ends there; the same "=" written in UTF-16BE is one.
  const spelled = utf16(" onload", true);
  assert.equal(findMarkup(concat(spelled, text("A<"), new Uint8Array([0, 0x61]))), undefined);
  assert.equal(findMarkup(concat(spelled, utf16("=x", true)), { level: "metadata" }), "onload=");
});
