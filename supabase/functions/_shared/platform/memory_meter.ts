/**
 * The isolate's memory, as an edge runtime meters it: the V8 heap in use plus the memory of
 * ArrayBuffers (request bodies, SDK buffers). Upload handlers sample it at their high points;
 * the health endpoint reports the peak to operators and benchmarks. A function's composition
 * root makes one meter per isolate and hands it to both. The process's RSS also
 * holds the runtime's own HTTP buffers and allocator slack, which no function code controls.
 *
 * @module
 */

/** V8 heap in use + ArrayBuffer memory, in bytes. */
export function isolateBytes(): number {
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** The highest {@linkcode isolateBytes} seen since the last {@linkcode takePeak}. */
export class PeakMeter {
  #peak = 0;

  /** Notes the current isolate memory; cheap enough (~10 µs) for a few calls per request. */
  sample(): void {
    const now = isolateBytes();
    if (now > this.#peak) this.#peak = now;
  }

  /** The peak since the previous call (at least the current value); starts a new period. */
  takePeak(): number {
    this.sample();
    const peak = this.#peak;
    this.#peak = 0;
    return peak;
  }
}
