/**
 * Bounded decompression of the zlib streams inside an image's metadata (PNG `zTXt`, compressed
 * `iTXt`, `iCCP`), so that the markup scan sees the text a reader would see, and a decompression
 * bomb costs no more than the bound. Synchronous (`node:zlib`, which Deno and the edge runtime
 * both provide), so the whole inspection stays one synchronous call.
 *
 * @module
 */
import { inflateSync } from "node:zlib";
import { malformed } from "./parsers/common.ts";

/** Most bytes all compressed metadata of one file may decompress to: 1 MiB. */
export const MAX_INFLATED_BYTES = 1 << 20;

/**
 * Most a stream may grow, once past {@linkcode RATIO_FREE_BYTES}: text and ICC profiles compress
 * 3–10 times (an XMP packet's padding more), a bomb ~1,000 times.
 */
export const MAX_INFLATE_RATIO = 100;

/** Output below this size is never held to {@linkcode MAX_INFLATE_RATIO}. */
export const RATIO_FREE_BYTES = 64 * 1024;

/** What is left of one file's decompression budget; start it at {@linkcode MAX_INFLATED_BYTES}. */
export interface InflateBudget {
  left: number;
}

/**
 * `stream` decompressed, charged to `budget`.
 *
 * @throws AppError 422 `corrupt_image` when the stream is damaged or would pass the budget or
 * the ratio cap (`label` names the format, `what` the part, e.g. `a zTXt chunk`).
 *
 * @example
 * ```ts
 * const budget = { left: MAX_INFLATED_BYTES };
 * const text = inflateBounded(stream, budget, { label: "PNG", what: "a zTXt chunk" });
 * ```
 */
export function inflateBounded(
  stream: Uint8Array,
  budget: InflateBudget,
  where: { label: string; what: string },
): Uint8Array {
  const ratioLimit = Math.max(RATIO_FREE_BYTES, MAX_INFLATE_RATIO * stream.length);
  const limit = Math.min(budget.left, ratioLimit);
  let out: Uint8Array;
  try {
    out = inflateSync(stream, { maxOutputLength: Math.max(1, limit) });
  } catch (error) {
    if (!(error instanceof RangeError)) {
      throw malformed(where.label, `${where.what} does not decompress (its zlib data is broken)`);
    }
    throw malformed(
      where.label,
      limit === ratioLimit
        ? `${where.what} decompresses to more than ${MAX_INFLATE_RATIO} times its size (a decompression bomb)`
        : `its compressed metadata decompresses to more than ${MAX_INFLATED_BYTES / (1 << 20)} MiB`,
    );
  }
  budget.left -= out.length;
  return out;
}
