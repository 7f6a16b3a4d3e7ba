/**
 * What the rebuild progress bar shows, derived from a job row: rate, elapsed, how far along
 * and an estimate of the time left. The bucket's key count is unknown until the listing ends,
 * so "how far" is estimated against the index's current size (the best guess of the bucket's
 * size), and said to be an estimate.
 *
 * @module
 */
import type { Job } from "./types.ts";

/** The figures under the bar. */
export interface JobProgress {
  /** 0..1, or null when there is nothing to estimate against (indeterminate bar). */
  fraction: number | null;
  /** Keys listed per second so far. */
  keysPerSecond: number;
  elapsedMs: number;
  /** Estimated time left, or null when unknown. */
  remainingMs: number | null;
}

/** What the progress is computed from; `duration_ms` may be missing (then: since `started_at`). */
export type ProgressFields =
  & Pick<Job, "status" | "listing_complete" | "listed" | "started_at">
  & { duration_ms?: number };

/** Progress of `job`, given the index's size when it started (`expectedKeys`). */
export function jobProgress(
  job: ProgressFields,
  expectedKeys: number | null,
  nowMs = Date.now(),
): JobProgress {
  const elapsedMs = job.duration_ms ?? Math.max(0, nowMs - Date.parse(job.started_at));
  const keysPerSecond = elapsedMs > 0 ? (job.listed / elapsedMs) * 1000 : 0;
  if (job.status !== "running" || job.listing_complete) {
    return {
      fraction: 1,
      keysPerSecond,
      elapsedMs,
      remainingMs: job.status === "running" ? null : 0,
    };
  }
  if (!expectedKeys || expectedKeys <= 0) {
    return { fraction: null, keysPerSecond, elapsedMs, remainingMs: null };
  }
  // Never claim to be done while the listing goes on: a bucket may hold more than the index.
  const fraction = Math.min(job.listed / expectedKeys, 0.99);
  const remainingKeys = Math.max(expectedKeys - job.listed, 0);
  const remainingMs = keysPerSecond > 0 ? (remainingKeys / keysPerSecond) * 1000 : null;
  return { fraction, keysPerSecond, elapsedMs, remainingMs };
}

/** Whether a job will change no more (so polling stops). */
export function isSettled(job: Pick<Job, "status">): boolean {
  return job.status !== "running";
}

/**
 * "3 of 8 ranges listed" for a job listed in key ranges by several streams at once, or null for
 * one listed in one stream (a small bucket, or before its first page was listed).
 */
export function rangesProgress(job: Pick<Job, "ranges">): string | null {
  if (!job.ranges) return null;
  return `${job.ranges.done} of ${job.ranges.total}`;
}
