/**
 * Reusable request-body buffers. Under load a worker that allocates a fresh buffer per upload
 * grows by ~6× the file per request in flight: V8 frees an ArrayBuffer only at its next garbage
 * collection, which it delays until tens of MiB of them are dead. Reusing the buffers of
 * finished uploads keeps the worker near 1× the file per upload in flight.
 *
 * @module
 */

/** Buffers are sized in steps of this, so bodies of nearby sizes share them. */
const GRANULE = 64 * 1024;

/** A bounded free list of ArrayBuffers. */
export class BufferPool {
  readonly #free: ArrayBuffer[] = [];
  #freeBytes = 0;

  /** @param maxFreeBytes Most bytes kept idle for reuse; beyond this, released buffers are dropped. */
  constructor(readonly maxFreeBytes: number) {}

  /** Bytes currently held idle. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** A buffer of at least `size` bytes: the smallest idle one that fits, else a new one. */
  acquire(size: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const length = this.#free[i].byteLength;
      if (length >= size && (best === -1 || length < this.#free[best].byteLength)) best = i;
    }
    if (best === -1) return new ArrayBuffer(Math.max(GRANULE, Math.ceil(size / GRANULE) * GRANULE));
    const [buffer] = this.#free.splice(best, 1);
    this.#freeBytes -= buffer.byteLength;
    return buffer;
  }

  /**
   * Returns `buffer` for reuse. The caller must hold no view of it any more. A detached buffer
   * (its bytes moved elsewhere) is ignored; when the pool is full the largest idle buffers go.
   */
  release(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || this.#free.includes(buffer)) return;
    this.#free.push(buffer);
    this.#freeBytes += buffer.byteLength;
    while (this.#freeBytes > this.maxFreeBytes) {
      let largest = 0;
      for (let i = 1; i < this.#free.length; i++) {
        if (this.#free[i].byteLength > this.#free[largest].byteLength) largest = i;
      }
      const [dropped] = this.#free.splice(largest, 1);
      this.#freeBytes -= dropped.byteLength;
    }
  }
}
