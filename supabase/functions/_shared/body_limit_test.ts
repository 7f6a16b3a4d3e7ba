import assert from "node:assert/strict";
import { readBodyLimited } from "./body_limit.ts";
import type { AppError } from "./errors.ts";

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
