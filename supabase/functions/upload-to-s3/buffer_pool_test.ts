import assert from "node:assert/strict";
import { BufferPool } from "./buffer_pool.ts";

Deno.test("BufferPool hands a released buffer out again instead of allocating", () => {
  const pool = new BufferPool(1 << 20);
  const first = pool.acquire(100_000);
  assert.ok(first.byteLength >= 100_000);
  pool.release(first);
  assert.equal(pool.acquire(90_000), first, "a smaller body reuses it");
  assert.notEqual(pool.acquire(90_000), first, "not handed out twice");
});

Deno.test("BufferPool picks the smallest idle buffer that fits", () => {
  const pool = new BufferPool(8 << 20);
  const small = pool.acquire(200_000);
  const large = pool.acquire(3_000_000);
  pool.release(large);
  pool.release(small);
  assert.equal(pool.acquire(150_000), small);
  assert.equal(pool.acquire(150_000), large);
});

Deno.test("BufferPool keeps at most maxFreeBytes idle, dropping the largest first", () => {
  const pool = new BufferPool(1_000_000);
  const a = pool.acquire(600_000);
  const b = pool.acquire(300_000);
  const c = pool.acquire(300_000);
  pool.release(a);
  pool.release(b);
  pool.release(c);
  assert.ok(pool.freeBytes <= 1_000_000, `${pool.freeBytes} bytes idle`);
  assert.notEqual(pool.acquire(500_000), a, "the largest was dropped");
});

Deno.test("BufferPool ignores a detached buffer and a double release", () => {
  const pool = new BufferPool(1 << 20);
  const buffer = pool.acquire(1000);
  const moved = buffer.transfer(); // what a BYOB read or a postMessage does to it
  pool.release(buffer);
  assert.equal(pool.freeBytes, 0);
  pool.release(moved);
  pool.release(moved);
  assert.equal(pool.freeBytes, moved.byteLength);
});
