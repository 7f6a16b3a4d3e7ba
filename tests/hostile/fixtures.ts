/**
 * Hostile image bytes, built in code from the real fixtures (`tests/testdata/`) and the PNG
 * encoder, so each one is a few lines to read: polyglots, bombs, lying lengths. The corpus in
 * `uploads.json` names a builder by its key in {@linkcode HOSTILE_FILES}.
 *
 * @module
 */
import { deflateSync } from "node:zlib";
import { samplePng } from "../../scripts/lib/png.ts";
import { concat, fixture, text } from "../support/bytes.ts";
import {
  box,
  cameraXmp,
  exif,
  jpegWith,
  jpegWithScanData,
  pngChunk,
  pngWith,
  utf16,
  zip,
} from "../../supabase/functions/upload-to-s3/sniffing/testdata/build.ts";

const JPEG = () => fixture("product.jpg");
const WEBP = () => fixture("product.webp");
const PNG = () => samplePng(13, 40, 30);
const AVIF = () => fixture("product.avif");

/** What the red team's archives held: a page that `unzip` lists (issue 18). */
const EVIL_ZIP = (commentLength = 0) =>
  zip("evil.html", text("<script>alert(document.domain)</script>"), {
    commentLength,
    deflate: true,
  });
/** A PNG text chunk (`tEXt`, or `zTXt` compressed) holding `value` under `keyword`. */
const pngText = (value: string, compressed = false) =>
  compressed
    ? pngChunk("zTXt", concat(text("Comment\0\0"), new Uint8Array(deflateSync(text(value)))))
    : pngChunk("tEXt", concat(text("Comment\0"), text(value)));

/** A GIF89a of `screen` size with one image per entry of `frames`, each its own declared size. */
export function gif(
  screen: { width: number; height: number },
  frames: Array<{ width: number; height: number }>,
): Uint8Array {
  const u16 = (n: number) => [n & 0xff, n >> 8];
  const parts: number[] = [
    ...text("GIF89a"),
    ...u16(screen.width),
    ...u16(screen.height),
    0x00, // no global colour table
    0x00,
    0x00,
  ];
  for (const frame of frames) {
    parts.push(0x2c, ...u16(0), ...u16(0), ...u16(frame.width), ...u16(frame.height), 0x00);
    parts.push(0x02, 0x02, 0x44, 0x01, 0x00); // LZW code size 2, one 2-byte sub-block, end
  }
  parts.push(0x3b);
  return new Uint8Array(parts);
}

/** `jpeg` with a COM segment holding `comment` right after SOI. */
export function jpegWithComment(jpeg: Uint8Array, comment: string): Uint8Array {
  const body = text(comment);
  const length = body.length + 2;
  return concat(
    jpeg.subarray(0, 2),
    new Uint8Array([0xff, 0xfe, length >> 8, length & 0xff]),
    body,
    jpeg.subarray(2),
  );
}

/** `jpeg` whose first SOFn frame header declares `width`×`height`. */
export function jpegDeclaring(jpeg: Uint8Array, width: number, height: number): Uint8Array {
  const out = jpeg.slice();
  let at = 2;
  while (at + 4 < out.length) {
    const marker = out[at + 1];
    const length = (out[at + 2] << 8) | out[at + 3];
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      const view = new DataView(out.buffer, out.byteOffset);
      view.setUint16(at + 5, height);
      view.setUint16(at + 7, width);
      return out;
    }
    at += 2 + length;
  }
  throw new Error("no frame header in the JPEG fixture");
}

/** A PNG whose IHDR declares `width`×`height` (its pixel data stays tiny). */
export function pngDeclaring(width: number, height: number): Uint8Array {
  const out = PNG();
  const view = new DataView(out.buffer, out.byteOffset);
  view.setUint32(16, width);
  view.setUint32(20, height);
  return out;
}

/** The WebP fixture with its RIFF length changed by `delta` bytes. */
export function webpRiffLengthOff(delta: number): Uint8Array {
  const out = WEBP();
  const view = new DataView(out.buffer, out.byteOffset);
  view.setUint32(4, view.getUint32(4, true) + delta, true);
  return out;
}

/** A zip archive's local file header, as a GIFAR appends (a JAR is a zip). */
const ZIP_TAIL = concat(
  new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0, 0]),
  text("META-INF/MANIFEST.MF"),
);

/** Every builder the corpus may name, each returning fresh bytes. */
export const HOSTILE_FILES: Record<string, () => Uint8Array> = {
  jpeg: JPEG,
  png: PNG,
  gif_small: () => gif({ width: 4, height: 4 }, [{ width: 4, height: 4 }]),
  jpeg_script_comment: () => jpegWithComment(JPEG(), "<script>alert(document.cookie)</script>"),
  jpeg_html_after_eoi: () => concat(JPEG(), text("<html><body onload=alert(1)></body></html>")),
  jpeg_php_comment: () => jpegWithComment(JPEG(), "<?php system($_GET['c']); ?>"),
  png_html_after_iend: () => concat(PNG(), text("<html><script>alert(1)</script></html>")),
  png_bytes_after_iend: () => concat(PNG(), new Uint8Array([0, 1, 2, 3])),
  gifar: () => concat(gif({ width: 4, height: 4 }, [{ width: 4, height: 4 }]), ZIP_TAIL),
  gif_svg_comment: () => {
    const image = gif({ width: 4, height: 4 }, [{ width: 4, height: 4 }]);
    const comment = text("<svg onload=alert(1)>");
    // A comment extension (0x21 0xfe) with the markup as one sub-block, before the trailer.
    return concat(
      image.subarray(0, image.length - 1),
      new Uint8Array([0x21, 0xfe, comment.length]),
      comment,
      new Uint8Array([0x00, 0x3b]),
    );
  },
  svg_script: () =>
    text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'),
  svg_xml_prolog: () =>
    text('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
  html_page: () => text("<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"),
  js_text: () => text("alert(document.cookie);//"),
  png_bomb: () => pngDeclaring(50_000, 50_000),
  png_zero_width: () => pngDeclaring(0, 30),
  jpeg_bomb: () => jpegDeclaring(JPEG(), 65_535, 65_535),
  gif_screen_bomb: () => gif({ width: 65_535, height: 65_535 }, [{ width: 1, height: 1 }]),
  gif_frame_bomb: () => gif({ width: 1, height: 1 }, [{ width: 65_535, height: 65_535 }]),
  gif_many_frames: () =>
    gif({ width: 64, height: 64 }, Array(20_000).fill({ width: 64, height: 64 })),
  webp_riff_too_long: () => webpRiffLengthOff(64),
  webp_riff_too_short: () => webpRiffLengthOff(-16),
  // Issue 18: archives inside an image, markup in every text-bearing structure.
  png_zip_chunk: () => {
    // The ZIP's end-record comment covers the rest of the file (CRC, other chunks, IEND).
    const png = PNG();
    return pngWith(png, pngChunk("ziPk", EVIL_ZIP(4 + png.length - 33)));
  },
  jpeg_zip_comment: () => jpegWith(JPEG(), 0xfe, EVIL_ZIP()),
  avif_zip_free: () => concat(AVIF(), box("free", EVIL_ZIP())),
  png_img_onerror_text: () => pngWith(PNG(), pngText("<img src=x onerror=alert(1)>")),
  png_iframe_text: () => pngWith(PNG(), pngText('<iframe src="https://evil.example/"></iframe>')),
  png_body_onload_text: () => pngWith(PNG(), pngText("<body onload=alert(1)>")),
  png_script_ztxt: () => pngWith(PNG(), pngText("<script>alert(1)</script>", true)),
  png_script_itxt_compressed: () =>
    pngWith(
      PNG(),
      pngChunk(
        "iTXt",
        concat(
          text("Description\0\x01\0en\0\0"),
          new Uint8Array(deflateSync(text("<script>alert(1)</script>"))),
        ),
      ),
    ),
  jpeg_utf16_script_app1: () =>
    jpegWith(JPEG(), 0xe1, exif(0x9c9c, 1, utf16("<script>alert(1)</script>\0"))),
  jpeg_html_scan_data: () =>
    jpegWithScanData(JPEG(), text("<html><body><img src=x onerror=alert(1)></body></html>")),
  png_ztxt_bomb: () =>
    pngWith(
      PNG(),
      pngChunk(
        "zTXt",
        concat(text("Comment\0\0"), new Uint8Array(deflateSync(new Uint8Array(8 << 20)))),
      ),
    ),
  jpeg_camera_xmp: () =>
    jpegWith(JPEG(), 0xe1, concat(text("http://ns.adobe.com/xap/1.0/\0"), cameraXmp())),
  png_camera_xmp: () =>
    pngWith(PNG(), pngChunk("iTXt", concat(text("XML:com.adobe.xmp\0\0\0\0\0"), cameraXmp()))),
  jpeg_truncated: () => JPEG().subarray(0, 600),
  png_header_only: () => PNG().subarray(0, 33),
};
