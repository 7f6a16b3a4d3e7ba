/**
 * How many listing requests one invocation keeps in flight, adjusted as TCP adjusts its window
 * (additive increase, multiplicative decrease): a page that S3 answered only after retries
 * (`503 SlowDown`, a 5xx, a reset) halves the limit for the rest of the invocation; every
 * `limit` pages that came at once raise it by one, up to the configured number of streams.
 * S3 throttles per key prefix and scales up behind it, so backing off and creeping back is what
 * its documentation asks of clients.
 *
 * @module
 */

/** A counting gate with an adjustable limit. */
export class StreamLimit {
  #limit: number;
  #inFlight = 0;
  #cleanRun = 0;
  #waiting: Array<() => void> = [];

  /** @param max The most requests in flight (at least 1). */
  constructor(readonly max: number) {
    this.#limit = Math.max(1, Math.floor(max));
  }

  /** The current limit. */
  get limit(): number {
    return this.#limit;
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Waits for a free slot and takes it. */
  async acquire(): Promise<void> {
    while (this.#inFlight >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#inFlight++;
  }

  /** Gives a slot back; `throttled` when the request needed retries or failed. */
  release(throttled: boolean): void {
    this.#inFlight--;
    if (throttled) {
      this.#limit = Math.max(1, Math.floor(this.#limit / 2));
      this.#cleanRun = 0;
    } else if (++this.#cleanRun >= this.#limit && this.#limit < this.max) {
      this.#limit++;
      this.#cleanRun = 0;
    }
    for (const wake of this.#waiting.splice(0)) wake();
  }
}
