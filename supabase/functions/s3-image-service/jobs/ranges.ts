/**
 * One invocation's worth of a job whose listing is cut into key ranges: claim up to `streams`
 * ranges, list them at once (each from its own position with `StartAfter`, up to its end),
 * stage each page with its range's compare-and-set, take or split another range when one is
 * done, stop before the budget would be exceeded, and finish the job when the last range is
 * complete. Several invocations (workers) run this at once on one job, each with its own range
 * leases; the database keeps them apart (`s3_cache_rebuild_claim_ranges`).
 *
 * - A page is trimmed at its range's end: keys after it belong to the next range, and the range
 *   is then complete. A range split meanwhile (by an idle worker) refuses a page that crossed
 *   its new end; the page is trimmed again at the new end and staged.
 * - A range that stays busy is split by a worker with a free stream, at a key halfway to its end
 *   (`midKey`), once a `StartAfter` probe shows keys lie beyond that point.
 * - S3 answers that needed retries, or failed, halve the requests in flight
 *   ({@linkcode StreamLimit}); a page that still fails after our own retries fails the job.
 * - The last range to complete is staged by exactly one worker (the job row lock orders them),
 *   and that worker finishes the job. A worker that loses a reply and sees the job listed
 *   finishes it too; finish refuses a job that is no longer running, so it applies once.
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
import { AppError } from "../../_shared/errors.ts";
import type { KeyRange, RangeClaim, RebuildJob, RebuildJobs } from "./job_store.ts";
import type { ImageStorage, ListPage } from "../../_shared/platform/storage.ts";
import type { ListedKey } from "./listing_page.ts";
import { compareKeys, midKey } from "./key_space.ts";
import { describe, Paused, sliceTools } from "./slice_tools.ts";
import type { SliceOutcome } from "./slice.ts";
import { StreamLimit } from "./stream_limit.ts";

/** Ranges a job may be cut into at most: each costs at least one listing request. */
export const MAX_RANGES = 256;

/** Candidate split keys probed at once (one round) when a range is split. */
const SPLIT_PROBES = 8;

/** Rounds of probes a split may take when the keys lie deeper than a round reaches. */
const SPLIT_ROUNDS = 3;

/** Listing attempts per page on top of the S3 client's own retries. */
const LIST_ATTEMPTS = 4;

/** What a ranged slice needs. */
export interface RangedSliceOptions {
  jobs: RebuildJobs;
  storage: Pick<ImageStorage, "listPage">;
  jobId: number;
  worker: string;
  leaseSeconds: number;
  budget: BudgetLimits;
  /** Listing requests this invocation keeps in flight at most. */
  streams: number;
  /** Workers (invocations) that may list one job at once. */
  maxWorkers: number;
  /** Starts `count` more workers on the job in fresh invocations. */
  spawn?: (count: number) => Promise<void>;
  /**
   * Whether this invocation starts a chain (the first slice, a worker started by another, a job
   * picked up): only those start workers for ranges to split, so a long chain does not start
   * idle ones at every hop. Any invocation starts workers for ranges nobody holds.
   */
  chainStart?: boolean;
  /** Keys per page. Default 1,000. */
  pageSize?: number;
  clock?: BudgetClock;
  cpuClock?: boolean;
  /** Backoff between retries (tests pass a fake). */
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** S3 failures worth another attempt: anything but a configuration problem. */
function retryableListError(error: unknown): boolean {
  return !(error instanceof AppError) || error.status === 503;
}

/**
 * The part of `objects` (in S3 order) inside a range ending at `upTo`, and whether the page
 * reached past that end.
 */
export function trimToRange(
  objects: ReadonlyArray<ListedKey>,
  upTo: string | null,
): { objects: ReadonlyArray<ListedKey>; beyond: boolean } {
  const last = objects[objects.length - 1];
  if (upTo === null || !last || compareKeys(last.key, upTo) <= 0) return { objects, beyond: false };
  let low = 0;
  let high = objects.length - 1; // objects[high] is past the end
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compareKeys(objects[mid].key, upTo) > 0) high = mid;
    else low = mid + 1;
  }
  return { objects: objects.slice(0, low), beyond: true };
}

class ListingFailed extends Error {}

/** Runs one ranged slice of job `jobId`; never throws for an outcome a caller can act on. */
export async function runRangedSlice(options: RangedSliceOptions): Promise<SliceOutcome> {
  const budget = startBudget(
    options.budget,
    options.clock ?? systemClock({ cpu: options.cpuClock }),
  );
  try {
    return await rangedSliceWithin(options, budget);
  } finally {
    budget.end(); // its CPU share stops dividing the process's (budget.ts)
  }
}

async function rangedSliceWithin(
  options: RangedSliceOptions,
  budget: Budget,
): Promise<SliceOutcome> {
  const { jobs, storage, jobId, worker, leaseSeconds } = options;
  const pageSize = options.pageSize ?? 1000;
  const sleep = options.sleep ?? realSleep;
  const streams = Math.max(1, Math.floor(options.streams));
  const tools = sliceTools(jobs, jobId, budget, { sleep: options.sleep });
  const { db, record } = tools;
  const limit = new StreamLimit(streams);

  let job: RebuildJob | null = null;
  /** Ranges this invocation is listing now, by number. */
  const active = new Map<number, KeyRange>();
  let spent = false;
  let ended = false;
  /** The first error a stream met; the other streams stop at their next page. */
  let failure: unknown = null;
  /**
   * This invocation finishes the job: its page completed the listing, or it found the listing
   * complete when it started (the worker that completed it died before finishing). Others that
   * merely see it complete leave the finish to that one.
   */
  let finishHere = false;
  /**
   * A chain start whose ranges were all its own (none free, none listed yet: a first rebuild cut
   * on the ladder) starts no worker at first; it looks again, once, when one of its ranges has
   * listed a page and goes on, which makes the ranges worth splitting by more workers. Without
   * it, the whole job stayed in this chain's streams: its next invocations start nobody.
   */
  let lookAgain = false;
  let lookedAgain: Promise<unknown> = Promise.resolve();

  const noteJob = (claim: RangeClaim) => {
    job = claim.job;
    return claim;
  };

  // Claims are serialized: each asks for the ranges being listed plus one more.
  let claiming: Promise<unknown> = Promise.resolve();
  const claim = (extra: number): Promise<RangeClaim | null> => {
    const next = claiming.then(() =>
      db(() => jobs.claimRanges(jobId, worker, leaseSeconds, active.size + extra))
    );
    claiming = next.catch(() => {});
    return next.then((result) => (result ? noteJob(result) : null));
  };

  /** Pages requested and not yet counted (in flight, waiting for a slot, or listed ahead). */
  let requested = 0;
  const roomForPage = () => {
    if (!budget.roomForAnotherUnit()) return false;
    const { pages } = budget.limits;
    return pages === undefined || budget.spent().pages + requested < pages;
  };
  /**
   * Requests the page after `after`, counted against the budget from now until `settle` (once
   * the page is used, or dropped).
   */
  const requestPage = (after: string): { page: Promise<ListPage>; settle(): void } => {
    requested++;
    let open = true;
    const page = listPage(after);
    page.catch(() => {}); // awaited by the stream, or dropped
    return {
      page,
      settle: () => {
        if (open) requested--;
        open = false;
      },
    };
  };

  const listPage = async (after: string): Promise<ListPage> => {
    for (let attempt = 1;; attempt++) {
      await limit.acquire();
      let throttled = true;
      try {
        const page = await storage.listPage({ startAfter: after, maxKeys: pageSize });
        throttled = (page.retries ?? 0) > 0;
        return page;
      } catch (error) {
        if (attempt >= LIST_ATTEMPTS || !retryableListError(error)) {
          throw new ListingFailed(describe(error));
        }
        await sleep(Math.min(4000, 200 * 2 ** attempt) * Math.random());
      } finally {
        limit.release(throttled);
      }
    }
  };

  /** Stages a page of `range`; the range as it is now, or null when it is no longer ours. */
  const stage = async (
    range: KeyRange,
    page: ListPage,
  ): Promise<KeyRange | null> => {
    let current = range;
    for (let attempt = 0; attempt < 3; attempt++) {
      const { objects, beyond } = trimToRange(page.objects, current.up_to);
      const lastKey = objects.length ? objects[objects.length - 1].key : null;
      const complete = beyond || !page.nextToken ||
        (lastKey !== null && current.up_to !== null && compareKeys(lastKey, current.up_to) === 0);
      const previousKey = current.last_key;
      try {
        const staged = await db(() =>
          jobs.stageRangePage(jobId, worker, {
            range: current.range,
            previousKey,
            lastKey,
            complete,
            objects,
          })
        );
        job = staged.job;
        if (staged.job.listing_complete) finishHere = true;
        tools.staged(objects.length);
        await tools.noteSkipped(objects);
        return staged.range;
      } catch (error) {
        if (!isLostJobError(error)) throw error;
        // Refused: the job ended, the range was split, our lease ran out, or a retry found the
        // first attempt committed. The range as the database has it now tells which.
        const claimed = await claim(0);
        if (!claimed || claimed.job.status !== "running") {
          ended = true;
          return null;
        }
        const now = claimed.ranges.find((r) => r.range === current.range);
        const open = claimed.open?.find((r) => r.range === current.range);
        if (!now) {
          // Complete (our page went in after all) or taken over by another worker.
          if (open) return null;
          if (claimed.job.listing_complete) finishHere = true;
          return { ...current, complete: true, last_key: lastKey ?? previousKey };
        }
        if (now.last_key !== previousKey) return now.last_key === lastKey ? now : null;
        current = now; // split meanwhile: trim at the new end and stage again
      }
    }
    return null;
  };

  /**
   * Lists `range` until it is complete or the budget is spent. The next page is listed while
   * this one is staged (its position, this page's last key, is known as the page arrives), so a
   * stream waits for S3 or the database, not both; it is dropped if staging moved the range
   * elsewhere (split, complete, taken over).
   */
  const listRange = async (range: KeyRange) => {
    active.set(range.range, range);
    let current: KeyRange | null = range;
    let ahead: ReturnType<typeof requestPage> | null = null;
    try {
      while (current && !current.complete && !ended && !failure) {
        if (!ahead) {
          if (!roomForPage()) {
            spent = true;
            return;
          }
          ahead = requestPage(current.last_key ?? current.start_after);
        }
        const taken = ahead;
        ahead = null;
        let page: ListPage;
        try {
          page = await taken.page;
        } finally {
          taken.settle();
        }
        budget.unitDone({ pages: 1, keys: page.objects.length });
        const last = page.objects.at(-1)?.key;
        const more = page.nextToken !== undefined && last !== undefined &&
          (current.up_to === null || compareKeys(last, current.up_to) < 0);
        if (more && roomForPage()) ahead = requestPage(last);
        current = await stage(current, page);
        if (lookAgain && more && current && !current.complete) {
          lookAgain = false;
          lookedAgain = claiming.then(async () => {
            // Only while this worker still lists: a claim asks for the ranges being listed.
            if (!active.size || spent || ended || failure) return;
            const claimed = await claim(0);
            if (claimed) await fanOut(claimed, options);
          }).catch((error) => {
            if (error instanceof Paused) throw error;
            console.error(`Rebuild ${jobId}: could not start more workers:`, error);
          });
        }
        if (ahead && (!current || current.complete || current.last_key !== last)) {
          ahead.settle(); // listed for nothing: the range moved elsewhere
          ahead = null;
        }
      }
    } finally {
      ahead?.settle();
      active.delete(range.range);
    }
  };

  /** Another range for an idle stream: a free one, else a busy one split in two. */
  const nextRange = async (): Promise<KeyRange | null> => {
    if (spent || ended || failure) return null;
    if (!roomForPage()) {
      spent = true; // ranges may be left: the same worker goes on in a fresh invocation
      return null;
    }
    const claimed = await claim(1);
    if (!claimed) {
      ended = true;
      return null;
    }
    const fresh = claimed.ranges.find((r) => !active.has(r.range));
    if (fresh) return fresh;
    return await splitBusiest(claimed);
  };

  /**
   * Splits the range with the most pages listed (it stays busy) at a key halfway to its end,
   * once a probe shows keys lie after that key; the new range is ours. Null when no range can
   * be split usefully.
   */
  const splitBusiest = async (claimed: RangeClaim): Promise<KeyRange | null> => {
    const open = claimed.open ?? [];
    if (claimed.job.ranges && claimed.job.ranges.total >= MAX_RANGES) return null;
    const candidates = [...open]
      .sort((a, b) => b.pages - a.pages || Number(a.up_to !== null) - Number(b.up_to !== null))
      .slice(0, 2);
    for (const range of candidates) {
      const from = range.last_key ?? range.start_after;
      // Halfway to the end, halfway to that, …: probed at once (one round trip), the largest
      // with a key after it inside the range is the split. Where the keys are is unknown, so a
      // single guess would often land in an empty stretch above them; and when every probe of a
      // round answered that nothing lies after it in the range, the keys are all below its
      // lowest point, so the next round goes on halving from there (numbered names sit deep:
      // `k-00009.jpg` … `k-00299.jpg` are first found at the 18th point, `k-002`).
      let at: string | undefined;
      let next = midKey(from, range.up_to);
      for (let round = 0; round < SPLIT_ROUNDS && next !== null && at === undefined; round++) {
        const points: string[] = [];
        for (; next !== null && points.length < SPLIT_PROBES; next = midKey(from, next)) {
          points.push(next);
        }
        const found = await Promise.all(points.map((point) => listPageQuietly(point)));
        at = points.find((_, i) => {
          const first = found[i]?.objects[0]?.key;
          return first !== undefined &&
            (range.up_to === null || compareKeys(first, range.up_to) <= 0);
        });
        if (found.some((page) => page === null)) break; // a probe failed: its answer is unknown
      }
      if (at === undefined) continue;
      try {
        const split = await db(() => jobs.splitRange(jobId, range.range, worker, at, leaseSeconds));
        job = split.job;
        return split.range;
      } catch (error) {
        if (!isLostJobError(error)) throw error; // else its holder moved past `at`: next range
      }
    }
    return null;
  };

  /**
   * A probe of one key (`MaxKeys=1`), null when it fails. Outside the stream limit: a split's
   * probes go out at once, and a one-key answer is no load worth throttling.
   */
  const listPageQuietly = async (after: string): Promise<ListPage | null> => {
    try {
      return await storage.listPage({ startAfter: after, maxKeys: 1 });
    } catch {
      return null;
    }
  };

  try {
    const first = await claim(streams);
    if (!first) {
      const snapshot = await db(() => jobs.status(jobId));
      return { state: "ended", job: snapshot?.job ?? null };
    }
    tools.skippedBefore(first.job.summary?.skipped_samples?.length ?? 0);
    if (first.job.listing_complete) finishHere = true;
    if (!first.job.listing_complete) {
      lookAgain = (await fanOut(first, options)) === 0 && !!options.chainStart;
      const queue = [...first.ranges];
      const runStream = async () => {
        try {
          // A stream with no claimed range to start with looks for one (free, or split off).
          for (let range = queue.shift() ?? await nextRange(); range;) {
            await listRange(range);
            if (spent || ended || failure) return;
            range = queue.shift() ?? await nextRange();
          }
        } catch (error) {
          failure ??= error;
        }
      };
      await Promise.all(Array.from({ length: streams }, runStream));
      await lookedAgain;
      if (failure) throw failure;
    }
    if (ended) {
      await record();
      const snapshot = await db(() => jobs.status(jobId)).catch(() => null);
      return { state: "ended", job: snapshot?.job ?? null };
    }
    const latest = job as RebuildJob | null;
    if (!latest) return { state: "ended", job: null };
    if (latest.listing_complete && finishHere) return await tools.finish(latest);
    await record();
    // Budget spent with ranges left: the same worker goes on in a fresh invocation. Otherwise
    // the other workers hold the rest, and the last of them to complete a range finishes.
    return spent ? { state: "more", job: latest } : { state: "busy", job: latest };
  } catch (error) {
    if (error instanceof Paused) {
      console.error(`Rebuild ${jobId} paused, the database is unreachable: ${error.message}`);
      return { state: "paused", error: error.message };
    }
    const latest = job as RebuildJob | null;
    const message = error instanceof ListingFailed
      ? `Listing the bucket failed after ${latest?.pages ?? 0} page(s) (${
        latest?.listed ?? 0
      } keys): ${error.message}`
      : `Rebuild stopped: ${describe(error)}`;
    if (!(error instanceof ListingFailed)) console.error(`Rebuild ${jobId} failed:`, error);
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
 * Starts more workers when ranges wait for one: as many as the free ranges fill (`streams`
 * each), or, when none is free and this invocation starts a chain, one per missing worker while
 * some range has listed a full page and goes on (worth splitting), up to `maxWorkers` in all.
 * Returns how many it started.
 */
async function fanOut(claim: RangeClaim, options: RangedSliceOptions): Promise<number> {
  // A worker that found nothing to do starts nobody: it would only start more idle ones.
  if (!options.spawn || claim.ranges.length === 0) return 0;
  const missing = options.maxWorkers - Math.max(1, claim.workers);
  if (missing <= 0) return 0;
  const splittable = options.chainStart && (claim.open ?? []).some((r) => r.pages > 0);
  const wanted = claim.free > 0
    ? Math.ceil(claim.free / Math.max(1, options.streams))
    : splittable
    ? missing
    : 0;
  const count = Math.min(missing, wanted);
  if (count > 0) {
    await options.spawn(count).catch((error) =>
      console.error(`Rebuild ${options.jobId}: could not start more workers:`, error)
    );
  }
  return count;
}
