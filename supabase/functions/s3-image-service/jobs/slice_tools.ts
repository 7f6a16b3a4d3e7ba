/**
 * What every kind of slice shares (one stream, `slice.ts`, or key ranges, `ranges.ts`): database
 * calls retried with backoff that *pause* the slice when the database stays away, the record of
 * what the invocation cost, the sample of skipped keys, and the finish once the listing is
 * complete.
 *
 * @module
 */
import type { Budget } from "./budget.ts";
import { isLostJobError, isTransientDbError } from "../../_shared/platform/db_errors.ts";
import { AppError } from "../../_shared/errors.ts";
import { isPlainImageName } from "../../_shared/images/plain_names.ts";
import { filenameProblem } from "../../_shared/images/names.ts";
import type { RebuildJob, RebuildJobs, SkippedKey } from "./job_store.ts";
import { MAX_SKIPPED_SAMPLES } from "./job_store.ts";
import { withRetry } from "../../_shared/platform/retry.ts";
import type { ListedKey } from "./listing_page.ts";
import type { SliceOutcome } from "./slice.ts";

/** A readable sentence for any error. */
export const describe = (error: unknown): string => {
  if (error instanceof AppError) return error.message;
  const { message, code } = error as { message?: string; code?: string };
  return [code, message].filter(Boolean).join(": ") || String(error);
};

/** The database stayed unreachable: the slice stops and the job resumes once its lease expires. */
export class Paused extends Error {}

/** Runs a database call that is safe to repeat. */
export type Db = <T>(operation: (attempt: number) => Promise<T>) => Promise<T>;

/** The tools of one slice over `jobs`. */
export interface SliceTools {
  db: Db;
  /** Counts a staged page for the invocation record. */
  staged(keys: number): void;
  /** Records the invocation's cost on the job (once, at the end; failures are only logged). */
  record(): Promise<void>;
  /** How many skipped keys the job noted before this slice. */
  skippedBefore(count: number): void;
  /** Notes skipped keys of a page on the job, up to {@linkcode MAX_SKIPPED_SAMPLES} in all. */
  noteSkipped(objects: ReadonlyArray<ListedKey>): Promise<void>;
  /** Finishes a job whose listing is complete and says how the slice ended. */
  finish(job: RebuildJob): Promise<SliceOutcome>;
}

/** Tools for a slice of `jobId`, measured by `budget`. */
export function sliceTools(
  jobs: RebuildJobs,
  jobId: number,
  budget: Budget,
  options: { sleep?: (ms: number) => Promise<void> } = {},
): SliceTools {
  const retryOptions = {
    attempts: 5,
    baseMs: 200,
    maxMs: 3000,
    retryable: isTransientDbError,
    sleep: options.sleep,
  };
  const db: Db = async (operation) => {
    try {
      return await withRetry(operation, retryOptions);
    } catch (error) {
      if (isTransientDbError(error)) throw new Paused(describe(error));
      throw error;
    }
  };
  let pages = 0;
  let keys = 0;
  let recorded = false;
  let skippedSamples = 0;
  const tools: SliceTools = {
    db,
    skippedBefore(count) {
      skippedSamples = count;
    },
    staged(count) {
      pages++;
      keys += count;
    },
    async record() {
      if (recorded) return;
      recorded = true;
      const spent = budget.spent();
      await jobs.recordInvocation(jobId, {
        cpuMs: spent.cpuMs,
        wallMs: spent.wallMs,
        pages,
        keys,
        clocks: budget.clocks,
      }).catch((error) =>
        console.error(`Rebuild ${jobId}: could not record the invocation:`, error)
      );
    },
    async noteSkipped(objects) {
      if (skippedSamples >= MAX_SKIPPED_SAMPLES) return;
      const skipped: SkippedKey[] = [];
      for (const object of objects) {
        // Most keys are plain names, proven valid without the full rules (~20x cheaper).
        const problem = isPlainImageName(object.key) ? undefined : filenameProblem(object.key);
        if (problem && skippedSamples + skipped.length < MAX_SKIPPED_SAMPLES) {
          skipped.push({ key: object.key, problem });
        }
      }
      if (!skipped.length) return;
      skippedSamples += skipped.length;
      await db(() => jobs.annotate(jobId, { skipped_samples: skipped })).catch((error) => {
        if (error instanceof Paused) throw error;
        console.error(`Rebuild ${jobId}: could not note skipped keys:`, error);
      });
    },
    async finish(job) {
      if (job.mode === "reconcile" && !job.summary?.apply) {
        await tools.record();
        return { state: "listed", job };
      }
      let finished = await finishVerified(jobs, jobId, db);
      await tools.record();
      // Read back so the answer carries this invocation's cost too.
      finished = (await jobs.status(jobId).catch(() => null))?.job ?? finished;
      switch (finished.status) {
        case "succeeded":
          return { state: "finished", job: finished };
        case "needs_confirmation":
          return { state: "held", job: finished };
        case "failed":
          return { state: "failed", job: finished };
        default:
          return { state: "ended", job: finished };
      }
    },
  };
  return tools;
}

/**
 * Finishes the job; a retry after a lost reply, or a finish raced by another worker's (the job
 * lock lets one through; the other finds the job no longer running), returns the ended job.
 */
async function finishVerified(jobs: RebuildJobs, jobId: number, db: Db): Promise<RebuildJob> {
  try {
    return await db(() => jobs.finish(jobId));
  } catch (error) {
    if (!isLostJobError(error)) throw error;
    const snapshot = await db(() => jobs.status(jobId));
    if (snapshot && snapshot.job.status !== "running") return snapshot.job;
    throw error;
  }
}
