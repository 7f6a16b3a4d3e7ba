/**
 * Exponential backoff with full jitter for transient failures (the S3 SDK has its own; this is
 * for the database and for our own multi-step operations).
 *
 * @module
 */

/** Options for {@linkcode withRetry}. */
export interface RetryOptions {
  /** Total attempts, the first included. Default 4. */
  attempts?: number;
  /** First backoff ceiling in ms; doubles each attempt. Default 100. */
  baseMs?: number;
  /** Largest backoff ceiling in ms. Default 2000. */
  maxMs?: number;
  /** Whether an error is worth another attempt. Default: every error. */
  retryable?: (error: unknown) => boolean;
  /** Sleeps between attempts (tests pass a fake). */
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `operation` until it succeeds, a non-retryable error occurs, or attempts run out; the
 * last error is rethrown.
 *
 * @example
 * ```ts
 * const rows = await withRetry(() => sql`select 1`, { retryable: isTransientDbError });
 * ```
 */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const { attempts = 4, baseMs = 100, maxMs = 2000, retryable = () => true } = options;
  const sleep = options.sleep ?? realSleep;
  for (let attempt = 1;; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= attempts || !retryable(error)) throw error;
      const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
      await sleep(Math.random() * ceiling);
    }
  }
}
