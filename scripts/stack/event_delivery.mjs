// Delivers bucket events to the events endpoint the way a real sender does, for the local
// emulator (s3_emulator.mjs): one S3 notification record per request as `{"Records":[…]}` (the
// body of S3's own notifications and of MinIO's webhook), `Authorization: Bearer <secret>`
// (MinIO's `auth_token`, an EventBridge connection's API-key header).
//
// Retries follow EventBridge API destinations and MinIO's webhook target: a 5xx, a 429 or no
// answer at all is tried again with growing pauses (a `Retry-After` is honoured), a 4xx is final
// (the endpoint said the event itself is wrong; sending it again cannot help). Nothing is dropped
// without a line in the log: a full queue, a refusal, giving up after `giveUpAfterMs`, and
// whatever is still queued when the emulator stops.
//
// Events for one key go out one after another, in the order they happened; events for different
// keys go out side by side (`concurrency`). The endpoint orders by `sequencer` anyway, as it must
// for real senders, which promise no order at all.
//
// Plain JavaScript because it runs inside the emulator's Node process; Deno unit tests import it.

/**
 * @typedef {object} DeliveryOptions
 * @property {string} url where to post (the stack's `EVENTS_URL`)
 * @property {string} secret sent as `Authorization: Bearer <secret>`
 * @property {number} [concurrency] requests in flight at once, default 32
 * @property {number} [maxQueue] events held (queued or in flight) before new ones are refused, default 10,000
 * @property {number} [firstRetryMs] pause before the first retry, doubled each time, default 100
 * @property {number} [maxRetryMs] longest pause between tries, default 5,000
 * @property {number} [giveUpAfterMs] stop retrying an event this long after its first try, default 15 minutes
 * @property {number} [timeoutMs] one request's time limit, default 10,000
 * @property {(line: string) => void} [log] where retried, refused, dropped and given-up events are reported, default `console.error`
 * @property {typeof fetch} [fetch] default `globalThis.fetch`
 */

/** Counts of what the delivery did, for logs and tests. */
export class DeliveryStats {
  delivered = 0;
  /** Answered 4xx: not sent again. */
  refused = 0;
  /** Tries that met a 5xx, a 429 or a connection error and were retried. */
  retried = 0;
  /** Retried until `giveUpAfterMs`, or still queued when the delivery stopped. */
  gaveUp = 0;
  /** Refused on arrival because the queue was full. */
  dropped = 0;
}

/** Posts S3 notification records to an events endpoint, one per request, retrying as S3 does. */
export class EventDelivery {
  /** @type {DeliveryStats} */
  stats = new DeliveryStats();
  #options;
  /** @type {Array<{ record: object, key: string }>} events not yet being sent, oldest first */
  #queue = [];
  /** Keys with a request in flight (or waiting to retry): their later events wait. */
  #busyKeys = new Set();
  #active = 0;
  #stopped = false;
  /** @type {Array<() => void>} */
  #idleWaiters = [];
  /** @type {Set<() => void>} wakes pauses between retries when the delivery stops */
  #sleepers = new Set();

  /** @param {DeliveryOptions} options */
  constructor(options) {
    this.#options = {
      // 8 kept 133 events/s at most through the local stack (each request waits on the host, the
      // worker and Postgres in turn); 32 keeps up with the benchmark's 200/s (bench -- events).
      concurrency: 32,
      maxQueue: 10_000,
      firstRetryMs: 100,
      maxRetryMs: 5_000,
      giveUpAfterMs: 15 * 60_000,
      timeoutMs: 10_000,
      log: (line) => console.error(line),
      fetch: (...args) => globalThis.fetch(...args),
      ...options,
    };
  }

  /**
   * Queues one record (`Records[0]` of a notification) for delivery.
   *
   * @param {object} record
   * @returns {boolean} false when it was refused (queue full, or the delivery stopped); logged
   */
  enqueue(record) {
    const key = record?.s3?.object?.key ?? "";
    if (this.#stopped || this.#queue.length + this.#active >= this.#options.maxQueue) {
      this.stats.dropped++;
      this.#options.log(
        `event delivery: dropped ${describe(record)}: ${
          this.#stopped ? "the delivery has stopped" : `${this.#options.maxQueue} events queued`
        }`,
      );
      return false;
    }
    this.#queue.push({ record, key });
    this.#pump();
    return true;
  }

  /** Events queued or in flight. */
  get pending() {
    return this.#queue.length + this.#active;
  }

  /** Resolves once nothing is queued or in flight. */
  idle() {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops: nothing new is sent, pauses end, and every event not yet delivered is counted in
   * `gaveUp` and logged as one line.
   *
   * @returns {number} how many events were not delivered
   */
  stop() {
    if (this.#stopped) return 0;
    this.#stopped = true;
    const left = this.#queue.length + this.#active;
    if (left > 0) {
      this.stats.gaveUp += this.#queue.length;
      this.#options.log(`event delivery: stopping with ${left} event(s) not delivered`);
    }
    this.#queue.length = 0;
    for (const wake of this.#sleepers) wake();
    return left;
  }

  #pump() {
    while (!this.#stopped && this.#active < this.#options.concurrency) {
      const index = this.#queue.findIndex((item) => !this.#busyKeys.has(item.key));
      if (index < 0) break;
      const [item] = this.#queue.splice(index, 1);
      this.#busyKeys.add(item.key);
      this.#active++;
      this.#send(item.record).finally(() => {
        this.#busyKeys.delete(item.key);
        this.#active--;
        this.#pump();
        if (this.pending === 0) { for (const resolve of this.#idleWaiters.splice(0)) resolve(); }
      });
    }
  }

  /** Sends one record until it is delivered, refused, or given up on. */
  async #send(record) {
    const { url, secret, firstRetryMs, maxRetryMs, giveUpAfterMs, timeoutMs } = this.#options;
    const body = JSON.stringify({ Records: [record] });
    const started = Date.now();
    for (let attempt = 0;; attempt++) {
      let problem;
      let retryAfterMs = 0;
      try {
        const response = await this.#options.fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await response.text().catch(() => "");
        if (response.ok) {
          this.stats.delivered++;
          return;
        }
        if (response.status < 500 && response.status !== 429) {
          this.stats.refused++;
          this.#options.log(
            `event delivery: ${describe(record)} refused with ${response.status}, not retried: ${
              text.slice(0, 300)
            }`,
          );
          return;
        }
        problem = `answered ${response.status}`;
        retryAfterMs = retryAfter(response.headers.get("retry-after"));
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      if (this.#stopped) {
        this.stats.gaveUp++;
        return;
      }
      if (Date.now() - started >= giveUpAfterMs) {
        this.stats.gaveUp++;
        this.#options.log(
          `event delivery: gave up on ${describe(record)} after ${attempt + 1} tries: ${problem}`,
        );
        return;
      }
      this.stats.retried++;
      // One line per event that had to be retried (not per try): an outage stays readable.
      if (attempt === 0) {
        this.#options.log(`event delivery: ${describe(record)} ${problem}, retrying`);
      }
      const backoff = Math.min(maxRetryMs, firstRetryMs * 2 ** attempt);
      // Full jitter, as AWS advises for retries, so a burst that failed together spreads out.
      await this.#sleep(Math.max(retryAfterMs, backoff / 2 + Math.random() * backoff / 2));
      if (this.#stopped) {
        this.stats.gaveUp++;
        return;
      }
    }
  }

  #sleep(ms) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }
}

/** `Retry-After` in seconds, as milliseconds (at most a minute); 0 when absent or a date. */
function retryAfter(value) {
  const seconds = Number(value);
  return value && Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1000 : 0;
}

/** `ObjectCreated:Put 14000.jpg` for log lines. */
function describe(record) {
  return `${record?.eventName ?? "event"} ${record?.s3?.object?.key ?? "(no key)"}`;
}
