/**
 * Reads a request body with a hard ceiling: refused by its Content-Length before a byte is read,
 * and refused while reading the moment it passes the ceiling, so a chunked body without a
 * Content-Length cannot make the function buffer more than `maxBytes`.
 *
 * @module
 */
import { type AppError, ERRORS } from "../errors.ts";

/**
 * Where {@linkcode readBodyLimited} may take its buffer from and give it back (upload-to-s3's
 * `BufferPool` is one): reading a large body into a reused buffer spares the allocation.
 */
export interface BodyBufferPool {
  acquire(bytes: number): ArrayBuffer;
  release(buffer: ArrayBuffer): void;
}

/** Options for {@linkcode readBodyLimited}. */
export interface ReadBodyOptions {
  /** The error thrown when the body is too large. Default: a 413 `payload_too_large`. */
  tooLarge?: () => AppError;
  /**
   * Where the buffer of a body with a Content-Length comes from. The caller then owns it and
   * gives it back with `pool.release(body.buffer)` once nothing refers to the body any more.
   */
  pool?: BodyBufferPool;
}

/**
 * The whole body of `request` in one buffer, at most `maxBytes` long. With a Content-Length the
 * buffer is allocated once at its final size and, where the runtime offers a byte stream (Deno
 * does for request bodies), filled in place by a BYOB reader: memory 1× the body and no chunk
 * garbage. Otherwise chunks are copied in as they come (or joined at the end without a
 * Content-Length: briefly 2×).
 *
 * @throws AppError 413 (or `options.tooLarge()`) when the body is, or becomes, too large;
 * 400 when it is shorter or longer than its Content-Length.
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
  const exact = declared !== undefined && Number.isSafeInteger(declared) && declared >= 0;
  if (exact && declared > maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!request.body) return new Uint8Array(0);
  if (exact) {
    const byob = byobReader(request.body);
    if (byob) return await readExactly(byob, declared, options.pool);
  }
  return await readChunks(request.body, maxBytes, exact ? declared : undefined, tooLarge);
}

function byobReader(body: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return body.getReader({ mode: "byob" });
  } catch {
    return undefined; // not a byte stream
  }
}

function lengthMismatch(got: string, declared: number): AppError {
  return ERRORS.BadRequest(
    `The request body ${got} its Content-Length of ${declared} bytes; send it again`,
  );
}

/** Fills one buffer of `declared` bytes in place; the body must be exactly that long. */
async function readExactly(
  reader: ReadableStreamBYOBReader,
  declared: number,
  pool: BodyBufferPool | undefined,
): Promise<Uint8Array> {
  // Each read hands back the buffer it filled (the one passed in is detached), so the next read
  // continues in the returned one.
  let buffer = pool ? pool.acquire(declared + 1) : new ArrayBuffer(declared + 1);
  let filled = 0;
  try {
    while (filled < declared) {
      const { done, value } = await reader.read(new Uint8Array(buffer, filled, declared - filled));
      if (value) buffer = value.buffer as ArrayBuffer;
      if (done) throw lengthMismatch(`ended after ${filled} of`, declared);
      filled += value.byteLength;
    }
    // One byte of room after the body shows whether more follows (it must not).
    const { done, value } = await reader.read(new Uint8Array(buffer, declared, 1));
    if (value) buffer = value.buffer as ArrayBuffer;
    if (!done) throw lengthMismatch("is longer than", declared);
  } catch (error) {
    await reader.cancel().catch(() => {});
    pool?.release(buffer);
    throw error;
  }
  return new Uint8Array(buffer, 0, declared);
}

async function readChunks(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  declared: number | undefined,
  tooLarge: () => AppError,
): Promise<Uint8Array> {
  const reader = body.getReader();
  let buffer = declared === undefined ? undefined : new Uint8Array(declared);
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
    if (total < buffer.length) throw lengthMismatch(`ended after ${total} of`, buffer.length);
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
