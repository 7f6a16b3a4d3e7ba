/**
 * A screen's job: the last answer about it, and live polling (through {@linkcode pollJob})
 * while it runs, so Rebuild and Reconcile follow jobs the same way.
 *
 * @module
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { Job, JobAnswer } from "./types.ts";
import type { Api } from "./api.ts";
import { endpoints, statusEndpoint } from "./endpoints.ts";
import { isSettled } from "./job_progress.ts";
import { pollJob } from "./job_poller.ts";

/** Options of {@linkcode useJob}. */
export interface UseJobOptions<T extends JobAnswer> {
  /** Whether polling stops at `answer`. Default: the job no longer runs. */
  isFinal?: (answer: T) => boolean;
  /** Called when polling reaches a final answer (not for answers handed to `follow`). */
  onFinal?: (answer: T) => void;
  /**
   * The status URL of a running job whose answer named none (a `GET` answer, e.g. the job picked
   * up when the screen opens). Default: the job's status route.
   */
  statusUrlOf?: (job: Job) => string;
}

/** What {@linkcode useJob} gives a screen. */
export interface JobFollower<T extends JobAnswer> {
  /** The latest answer, from an action or from polling. */
  answer: T | null;
  /**
   * Shows `answer` and polls while its job runs (its `statusUrl`, else `statusUrlOf`).
   * `ifIdle`: ignored when the screen already follows an answer (a late pick-up loses).
   */
  follow: (answer: T, options?: { ifIdle?: boolean }) => void;
  /** The last error (a polling error is shown, not hidden; the next answer clears it). */
  error: unknown;
  setError: (error: unknown) => void;
}

/** Follows one job at a time for a screen; polling stops when it settles or the screen closes. */
export function useJob<T extends JobAnswer>(
  api: Api,
  options: UseJobOptions<T> = {},
): JobFollower<T> {
  const [answer, setAnswer] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  // A new object per follow: following the same URL again (a second dry run) restarts polling.
  const [target, setTarget] = useState<{ statusUrl: string } | null>(null);
  const current = useRef<T | null>(null);
  // The latest callbacks, without restarting polling whenever the screen renders.
  const latest = useRef(options);
  latest.current = options;
  const isFinal = (value: T) => (latest.current.isFinal ?? ((a: T) => isSettled(a.job)))(value);

  const follow = (next: T, { ifIdle = false } = {}) => {
    if (ifIdle && current.current) return;
    current.current = next;
    setAnswer(next);
    const statusUrlOf = latest.current.statusUrlOf ??
      ((job: Job) => api.functionUrl(endpoints.job(job.id).path));
    setTarget(isFinal(next) ? null : { statusUrl: next.statusUrl ?? statusUrlOf(next.job) });
  };

  useEffect(() => {
    if (!target) return;
    return pollJob<T>({
      statusUrl: target.statusUrl,
      ask: async (url) => (await api.call(statusEndpoint<T>(url))).data,
      isFinal,
      onAnswer: (next) => {
        current.current = next;
        setError(null);
        setAnswer(next);
        if (isFinal(next)) latest.current.onFinal?.(next);
      },
      onError: setError,
    });
  }, [api, target]);

  return { answer, follow, error, setError };
}
