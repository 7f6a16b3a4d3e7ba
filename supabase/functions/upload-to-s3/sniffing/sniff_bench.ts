/**
 * Run: `deno bench --allow-read supabase/functions/upload-to-s3/sniffing/sniff_bench.ts`.
 * `inspectImage()` on a 1 MiB JPEG, the upload benchmark's hot path. Its scan data is seeded
 * noise, so every byte value (and a `<` every ~256 bytes) occurs as in a real photo's
 * entropy-coded data.
 */
import { fixture } from "../../../../tests/support/bytes.ts";
import { inspectImage } from "./sniff.ts";

/** `fixture("product.jpg")` with its scan data replaced by `size` bytes of stuffed noise. */
function noisyJpeg(size: number): Uint8Array {
  const jpeg = fixture("product.jpg");
  let sos = 2;
  while (!(jpeg[sos] === 0xff && jpeg[sos + 1] === 0xda)) {
    sos += 2 + ((jpeg[sos + 2] << 8) | jpeg[sos + 3]);
  }
  const headerEnd = sos + 2 + ((jpeg[sos + 2] << 8) | jpeg[sos + 3]);
  const out = new Uint8Array(headerEnd + size + 2);
  out.set(jpeg.subarray(0, headerEnd));
  let state = 12345;
  let at = headerEnd;
  while (at < headerEnd + size - 1) {
    state = (state * 1_103_515_245 + 12_345) >>> 0;
    const byte = state >>> 24;
    out[at++] = byte;
    if (byte === 0xff) out[at++] = 0x00; // byte stuffing, as in real scan data
  }
  out[at++] = 0xff;
  out[at++] = 0xd9;
  return out.subarray(0, at);
}

const JPEG_1MIB = noisyJpeg(1 << 20);

Deno.bench("inspectImage() on a 1 MiB JPEG", () => {
  inspectImage(JPEG_1MIB, { maxPixels: 40_000_000 });
});
