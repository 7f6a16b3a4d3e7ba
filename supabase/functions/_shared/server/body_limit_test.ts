import assert from "node:assert/strict";
import { readBodyLimited } from "./body_limit.ts";
import { BufferPool } from "../../upload-to-s3/buffer_pool.ts";
import type { AppError } from "../errors.ts";

function chunked(
  chunks: number,
  size: number,
  pulled: { count: number },
): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      if (pulled.count === chunks) return controller.close();
      pulled.count++;
      controller.enqueue(new Uint8Array(size).fill(pulled.count));
    },
  });
}

Deno.test("readBodyLimited() refuses a too-large Content-Length before reading a byte", async () => {
  const pulled = { count: 0 };
  const request = new Request("http://x/", {
    method: "POST",
    body: chunked(10, 100, pulled),
    headers: { "content-length": "1000" },
  });
  await assert.rejects(
    readBodyLimited(request, 999),
    (error: AppError) => error.status === 413,
  );
  assert.ok(pulled.count <= 1, `read ${pulled.count} chunks`);
});

Deno.test("readBodyLimited() stops a chunked body the moment it passes the limit", async () => {
  const pulled = { count: 0 };
  const request = new Request("http://x/", { method: "POST", body: chunked(1000, 1024, pulled) });
  await assert.rejects(
    readBodyLimited(request, 10 * 1024),
    (error: AppError) => error.code === "payload_too_large",
  );
  assert.ok(pulled.count <= 12, `read ${pulled.count} chunks`);
});

Deno.test("readBodyLimited() returns the whole body, with and without a Content-Length", async () => {
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 7919) % 251);
  const withLength = new Request("http://x/", { method: "POST", body: bytes });
  assert.deepEqual(await readBodyLimited(withLength, bytes.length), bytes);
  const pulled = { count: 0 };
  const stream = new Request("http://x/", { method: "POST", body: chunked(3, 5, pulled) });
  assert.deepEqual(
    await readBodyLimited(stream, 15),
    new Uint8Array([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]),
  );
});

/** A request whose body is a byte stream (as Deno.serve's are), delivering `chunks`. */
function byteStreamRequest(contentLength: number, chunks: Uint8Array[]): Request {
  let next = 0;
  const body = new ReadableStream({
    type: "bytes",
    pull(controller: ReadableByteStreamController) {
      if (next < chunks.length) return controller.enqueue(chunks[next++].slice());
      controller.close();
      controller.byobRequest?.respond(0); // a pending BYOB read learns of the end
    },
  });
  return {
    headers: new Headers({ "content-length": String(contentLength) }),
    body: body as ReadableStream<Uint8Array>,
  } as Request;
}

Deno.test("readBodyLimited() fills one buffer in place from a byte stream (BYOB)", async () => {
  const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5]), new Uint8Array([6])];
  const body = await readBodyLimited(byteStreamRequest(6, chunks), 100);
  assert.deepEqual(body, new Uint8Array([1, 2, 3, 4, 5, 6]));
});

Deno.test("readBodyLimited() with a pool reads into a reused buffer", async () => {
  const pool = new BufferPool(1 << 20);
  const first = await readBodyLimited(byteStreamRequest(3, [new Uint8Array([7, 8, 9])]), 100, {
    pool,
  });
  assert.deepEqual(first, new Uint8Array([7, 8, 9]));
  pool.release(first.buffer as ArrayBuffer);
  const capacity = first.buffer.byteLength; // the buffer itself is detached by the next read
  const second = await readBodyLimited(byteStreamRequest(2, [new Uint8Array([1, 2])]), 100, {
    pool,
  });
  assert.deepEqual(second, new Uint8Array([1, 2]));
  assert.equal(second.buffer.byteLength, capacity, "the same pooled capacity");
  assert.equal(pool.freeBytes, 0, "handed out again, not allocated anew");
});

Deno.test("readBodyLimited() refuses a byte stream shorter or longer than its Content-Length", async () => {
  await assert.rejects(
    readBodyLimited(byteStreamRequest(5, [new Uint8Array([1, 2])]), 100),
    (error: AppError) => error.status === 400 && /ended after 2 of .* 5 bytes/.test(error.message),
  );
  const pool = new BufferPool(1 << 20);
  await assert.rejects(
    readBodyLimited(byteStreamRequest(2, [new Uint8Array([1, 2, 3])]), 100, { pool }),
    (error: AppError) =>
      error.status === 400 && /longer than its Content-Length/.test(error.message),
  );
  assert.ok(pool.freeBytes > 0, "the buffer went back to the pool");
});
