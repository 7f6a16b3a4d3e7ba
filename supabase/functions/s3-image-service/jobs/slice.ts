/**
 * One invocation's worth of a rebuild or reconcile job ("a slice"): claim the lease, list the
 * bucket page by page from the job's committed continuation token, stage each page with its
 * token, stop before the budget would be exceeded, record what the invocation cost, and finish
 * the job once the listing is complete.
 *
 * The live index is only ever changed by `s3_cache_rebuild_finish`, one transaction at the very
 * end, so nothing a slice meets half-way (S3 down, database down, the worker killed) can leave
 * the index emptied or half-built:
 *
 * - S3 errors are retried by the SDK (5xx, `SlowDown`, resets); if a page still fails the job
 *   fails with a readable error.
 * - Database connection errors are retried with backoff; if the database stays away the slice
 *   *pauses*: it stops without ending the job, its lease runs out, and the next status or start
 *   call resumes the job from the last committed page.
 * - A page refused by the compare-and-set (the job was cancelled or another worker took it over)
 *   ends the slice quietly.
 *
 * @module
 */
import {
  type Budget,
  type BudgetClock,
  type BudgetLimits,
  startBudget,
  systemClock,
} from "./budget.ts";
import { isLostJobError } from "../../_shared/platform/db_errors.ts";
import type { RebuildJob, RebuildJobs, StagedPage } from "./job_store.ts";
import type { ImageStorage, ListPage } from "../../_shared/platform/storage.ts";
import { type Db, describe, Paused, sliceTools } from "./slice_tools.ts";

/** Keys per ListObjectsV2 page (S3's maximum). */
export const PAGE_SIZE = 1000;

/** How a slice ended. */
export type SliceOutcome =
  /** The listing is complete and the delta was applied; the job succeeded. */
  | { state: "finished"; job: RebuildJob }
  /** Pages remain; the budget is spent. Continue with the same worker name. */
  | { state: "more"; job: RebuildJob }
  /** A reconcile job's listing is complete; it waits for review (preview, then apply). */
  | { state: "listed"; job: RebuildJob }
  /** Another live worker holds the lease; nothing was done. */
  | { state: "busy"; job: RebuildJob | null }
  /** The job is not running (any more): cancelled, finished or failed elsewhere. */
  | { state: "ended"; job: RebuildJob | null }
  /**
   * Finish held a removal of more than half of the index back: the job ended
   * `needs_confirmation`, the index is untouched, `summary.guard` has the numbers.
   */
  | { state: "held"; job: RebuildJob }
  /** The job could not go on and was marked failed (the index is untouched). */
  | { state: "failed"; job: RebuildJob }
  /** The database was unreachable; the job stays running and resumes once its lease expires. */
  | { state: "paused"; error: string };

/** What a slice needs. */
export interface SliceOptions {
  jobs: RebuildJobs;
  storage: Pick<ImageStorage, "listPage">;
  jobId: number;
  /** Lease owner name; a continuation passes the same name on, so it keeps the lease. */
  worker: string;
  leaseSeconds: number;
  budget: BudgetLimits;
  /** Keys per page. Default {@linkcode PAGE_SIZE}. */
  pageSize?: number;
  /**
   * Budget clocks (tests pass fakes). Default: `performance.now()`, plus the process's CPU time
   * where the runtime reports it and `cpuClock` is not false.
   */
  clock?: BudgetClock;
  /** Whether the default clock may read CPU time (`REBUILD_BUDGET_CLOCKS`). Default true. */
  cpuClock?: boolean;
  /** Backoff between database retries (tests pass a fake). */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Asked after each page that more pages follow: where to cut the rest of the key space into
   * ranges that several streams list at once (`ranges.ts`), or null to go on in one stream
   * (`job`: as before this page). The page is then staged with the cut
   * (`s3_cache_rebuild_partition`) and the slice ends `more` with a job whose `ranges` is set:
   * the caller lists the ranges.
   */
  partition?: (page: ListPage, job: RebuildJob) => Promise<string[] | null>;
}

/**
 * Runs one slice of job `jobId`. Never throws for an outcome a caller can act on; see
 * {@linkcode SliceOutcome}.
 */
export async function runSlice(options: SliceOptions): Promise<SliceOutcome> {
  const budget = startBudget(
    options.budget,
    options.clock ?? systemClock({ cpu: options.cpuClock }),
  );
  try {
    return await sliceWithin(options, budget);
  } finally {
    budget.end(); // its CPU share stops dividing the process's (budget.ts)
  }
}

async function sliceWithin(options: SliceOptions, budget: Budget): Promise<SliceOutcome> {
  const { jobs, storage, jobId, worker, leaseSeconds } = options;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const tools = sliceTools(jobs, jobId, budget, { sleep: options.sleep });
  const { db, record } = tools;

  let job: RebuildJob | null;
  try {
    job = await db(() => jobs.claim(jobId, worker, leaseSeconds));
    if (!job) {
      const snapshot = await db(() => jobs.status(jobId));
      const current = snapshot?.job ?? null;
      return current?.status === "running"
        ? { state: "busy", job: current }
        : { state: "ended", job: current };
    }

    // Listed in key ranges already: the caller lists them (ranges.ts), not one stream.
    if (job.ranges) return { state: "more", job };
    tools.skippedBefore(job.summary?.skipped_samples?.length ?? 0);
    if (!job.listing_complete) {
      /**
       * The next page's request, sent as soon as the page before named its token (before that
       * page was read whole and staged), when the budget has room; one at a time.
       */
      type Ahead = { token: string; page?: Promise<ListPage> };
      let early: Ahead | null = null;
      const request = (token: string | null): Promise<ListPage> => {
        const pending = storage.listPage({
          token: token ?? undefined,
          maxKeys: pageSize,
          onNextToken: (next) => {
            if (early || !budget.roomForAnotherUnit()) return;
            const ahead: Ahead = { token: next };
            early = ahead; // taken first: the new request's own announcement finds it taken
            ahead.page = request(next);
          },
        });
        pending.catch(() => {}); // awaited below; a prefetch we abandon must not go unhandled
        return pending;
      };
      const list = (token: string | null): Promise<ListPage> => {
        const ahead = early;
        early = null;
        return ahead?.page && ahead.token === token ? ahead.page : request(token);
      };
      let token = job.continuation_token;
      let pending = list(token);
      while (true) {
        let page: ListPage;
        try {
          page = await pending;
        } catch (error) {
          const message = `Listing the bucket failed after ${job.pages} page(s) (${job.listed} ` +
            `keys): ${describe(error)}`;
          const failed = await db(() => jobs.fail(jobId, message)).catch((failure) => {
            if (failure instanceof Paused) throw failure;
            return null; // the job ended meanwhile (e.g. cancelled)
          });
          await record();
          return failed ? { state: "failed", job: failed } : { state: "ended", job: null };
        }
        budget.unitDone({ pages: 1, keys: page.objects.length });
        const nextToken = page.nextToken ?? null;
        const cut: string[] | null = nextToken !== null && options.partition && page.objects.length
          ? await options.partition(page, job)
          : null;
        const goOn = nextToken !== null && !cut && budget.roomForAnotherUnit();
        // Overlap the next listing request with staging this page.
        if (goOn) pending = list(nextToken);

        const staged: StagedPage = { previousToken: token, nextToken, objects: page.objects };
        try {
          job = cut
            ? await partitionVerified(jobs, jobId, worker, { token, page, boundaries: cut }, db)
            : await stageVerified(jobs, jobId, worker, staged, db);
        } catch (error) {
          if (isLostJobError(error)) {
            await record();
            const snapshot = await db(() => jobs.status(jobId)).catch(() => null);
            return { state: "ended", job: snapshot?.job ?? null };
          }
          throw error;
        }
        tools.staged(page.objects.length);
        await tools.noteSkipped(page.objects);

        if (nextToken === null) break;
        if (!goOn) { // the budget is spent, or the rest is cut into ranges the caller lists
          await record();
          return { state: "more", job };
        }
        token = nextToken;
      }
    }

    return await tools.finish(job);
  } catch (error) {
    if (error instanceof Paused) {
      console.error(`Rebuild ${jobId} paused, the database is unreachable: ${error.message}`);
      return { state: "paused", error: error.message };
    }
    // Anything else (the SQL API refusing our data, a bug): end the job readably.
    const message = `Rebuild stopped: ${describe(error)}`;
    console.error(`Rebuild ${jobId} failed:`, error);
    try {
      const failed = await db(() => jobs.fail(jobId, message));
      await record();
      return { state: "failed", job: failed };
    } catch (failure) {
      if (failure instanceof Paused) return { state: "paused", error: failure.message };
      const snapshot = await jobs.status(jobId).catch(() => null);
      return { state: "ended", job: snapshot?.job ?? null };
    }
  }
}

/**
 * Stages a page, retrying connection errors. A retry of a page whose first attempt did commit
 * (the reply was lost) is refused by the compare-and-set; then the job's committed token tells
 * whether our page is in, and if it is, the slice goes on.
 */
async function stageVerified(
  jobs: RebuildJobs,
  jobId: number,
  worker: string,
  page: StagedPage,
  db: Db,
): Promise<RebuildJob> {
  let retried = false;
  try {
    return await db((attempt) => {
      retried = attempt > 1;
      return jobs.stagePage(jobId, worker, page);
    });
  } catch (error) {
    if (!retried || !isLostJobError(error)) throw error;
    const snapshot = await db(() => jobs.status(jobId));
    const job = snapshot?.job;
    if (
      job?.status === "running" && job.lease_owner === worker &&
      job.continuation_token === page.nextToken &&
      job.listing_complete === (page.nextToken === null)
    ) {
      return job;
    }
    throw error;
  }
}

/**
 * Stages the first page with the cut into ranges. A retry whose first attempt did commit is
 * refused (the job is split already); the job then tells whether it was this worker's cut.
 */
async function partitionVerified(
  jobs: RebuildJobs,
  jobId: number,
  worker: string,
  { token, page, boundaries }: { token: string | null; page: ListPage; boundaries: string[] },
  db: Db,
): Promise<RebuildJob> {
  let retried = false;
  const afterKey = page.objects[page.objects.length - 1].key;
  try {
    return await db((attempt) => {
      retried = attempt > 1;
      return jobs.partition(jobId, worker, {
        previousToken: token,
        objects: page.objects,
        afterKey,
        boundaries,
      });
    });
  } catch (error) {
    if (!retried || !isLostJobError(error)) throw error;
    const job = (await db(() => jobs.status(jobId)))?.job;
    if (job?.status === "running" && job.ranges && job.lease_owner === worker) return job;
    throw error;
  }
}
