/**
 * Reads a request body with a hard ceiling: refused by its Content-Length before a byte is read,
 * and refused while reading the moment it passes the ceiling, so a chunked body without a
 * Content-Length cannot make the function buffer more than `maxBytes`.
 *
 * @module
 */
import { type AppError, ERRORS } from "./errors.ts";

/** Options for {@linkcode readBodyLimited}. */
export interface ReadBodyOptions {
  /** The error thrown when the body is too large. Default: a 413 `payload_too_large`. */
  tooLarge?: () => AppError;
}

/**
 * The whole body of `request` in one buffer, at most `maxBytes` long. With a Content-Length the
 * buffer is allocated once at its final size (memory: 1× the body); without one, chunks are
 * joined at the end (briefly 2×).
 *
 * @throws AppError 413 (or `options.tooLarge()`) when the body is, or becomes, too large;
 * 400 when it is shorter than its Content-Length.
 *
 * @example
 * ```ts
 * const body = await readBodyLimited(request, 10 * 1024 * 1024);
 * ```
 */
export async function readBodyLimited(
  request: Request,
  maxBytes: number,
  options: ReadBodyOptions = {},
): Promise<Uint8Array> {
  const tooLarge = options.tooLarge ??
    (() => ERRORS.PayloadTooLarge(`The request body is larger than ${maxBytes} bytes`));
  const header = request.headers.get("content-length");
  const declared = header === null ? undefined : Number(header);
  if (declared !== undefined && Number.isSafeInteger(declared) && declared > maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!request.body) return new Uint8Array(0);

  const reader = request.body.getReader();
  const exact = declared !== undefined && Number.isSafeInteger(declared) && declared >= 0;
  let buffer = exact ? new Uint8Array(declared) : undefined;
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.length > maxBytes) throw tooLarge();
      if (buffer && total + value.length <= buffer.length) {
        buffer.set(value, total);
      } else {
        if (buffer) { // more than declared: fall back to joining chunks
          chunks.push(buffer.subarray(0, total));
          buffer = undefined;
        }
        chunks.push(value);
      }
      total += value.length;
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  if (buffer) {
    if (total < buffer.length) {
      throw ERRORS.BadRequest(
        `The request body ended after ${total} of ${buffer.length} bytes; send it again`,
      );
    }
    return buffer;
  }
  const joined = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.length;
  }
  return joined;
}
