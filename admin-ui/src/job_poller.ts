/**
 * Follows a job until it settles: asks the status URL the server handed out, and, when an
 * answer names a new one, that one next. Polling the server's URL rather than a path the app
 * rebuilds keeps the app right when the function moves a job's status elsewhere. Each GET also
 * hands a stalled job to a new worker (the function does that on every status read), so a job
 * someone watches never stays stuck.
 *
 * Framework-free so it can be tested without a browser; `use_job.ts` ties it to a screen.
 *
 * @module
 */
import type { JobAnswer } from "./types.ts";

/** How often a running job is asked for its state. */
export const POLL_MS = 1000;

/** Options of {@linkcode pollJob}. */
export interface PollJobOptions<T extends JobAnswer> {
  /** Where to ask first: a `statusUrl` from the server. */
  statusUrl: string;
  /** One status request; rejects with the error to show. */
  ask: (statusUrl: string) => Promise<T>;
  /** Whether polling stops at `answer`. */
  isFinal: (answer: T) => boolean;
  /** Every answer, the final one included. */
  onAnswer: (answer: T) => void;
  /** Every failed request; polling goes on unless the error is final (see below). */
  onError: (error: unknown) => void;
  /** Pause before each request. Default {@linkcode POLL_MS}. */
  intervalMs?: number;
}

/**
 * Whether asking again cannot help: a 4xx other than 401 (a refreshed session may pass), 408 and
 * 429 (later may work). An unknown job or a lost role stays so; a network error or a 5xx does not.
 */
export function isFinalError(error: unknown): boolean {
  const status = (error as { status?: unknown })?.status;
  return typeof status === "number" && status >= 400 && status < 500 &&
    ![401, 408, 429].includes(status);
}

/**
 * Polls `statusUrl` every `intervalMs` (the first request after one pause: the caller already
 * shows the answer that gave the URL) until an answer is final or an error is. One request at a
 * time: a slow answer delays the next request instead of piling requests up.
 *
 * @returns stop: no request is sent and no callback called after it.
 *
 * @example
 * ```ts
 * const stop = pollJob({
 *   statusUrl: answer.statusUrl,
 *   ask: (url) => api.call(statusEndpoint(url)).then((a) => a.data),
 *   isFinal: (a) => a.job.status !== "running",
 *   onAnswer: show,
 *   onError: showError,
 * });
 * ```
 */
export function pollJob<T extends JobAnswer>(options: PollJobOptions<T>): () => void {
  const intervalMs = options.intervalMs ?? POLL_MS;
  let statusUrl = options.statusUrl;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const next = () => {
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };

  const tick = async () => {
    timer = undefined;
    let answer: T;
    try {
      answer = await options.ask(statusUrl);
    } catch (error) {
      if (stopped) return;
      options.onError(error);
      if (!isFinalError(error)) next();
      return;
    }
    if (stopped) return;
    options.onAnswer(answer);
    if (options.isFinal(answer)) return;
    if (answer.statusUrl) statusUrl = answer.statusUrl;
    next();
  };

  next();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
