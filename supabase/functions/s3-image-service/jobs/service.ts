/**
 * Rebuild and reconcile jobs end to end: start (one at a time), drive a slice inside a request,
 * continue in fresh invocations until the listing is complete, pick up jobs whose worker died,
 * report, apply and cancel. The HTTP routes of `s3-image-service` are thin wrappers of this.
 *
 * Job options the SQL API has no column for (the per-invocation budget chosen at start, and a
 * reconcile's "apply when listed") are kept in the job's `summary`, so a worker that picks a job
 * up after a crash honours them.
 *
 * @module
 */
import type { BudgetLimits } from "./budget.ts";
import type { Continuation, ContinueRequest, ListingSettings } from "./continuation.ts";
import { ERRORS } from "../../_shared/errors.ts";
import type { ImageStorage } from "../../_shared/platform/storage.ts";
import {
  type JobMode,
  type JobPreview,
  leaseIsFree,
  type RebuildJob,
  type RebuildJobs,
  type StartResult,
} from "./job_store.ts";
import { PAGE_SIZE, runSlice, type SliceOutcome } from "./slice.ts";
import { MAX_RANGES, runRangedSlice } from "./ranges.ts";
import { ladderBoundaries } from "./key_space.ts";

/** Defaults from the configuration. */
export interface RebuildDefaults {
  budget: BudgetLimits;
  leaseSeconds: number;
  /** Whether budgets may read CPU time where the runtime reports it (`REBUILD_BUDGET_CLOCKS`). */
  cpuClock?: boolean;
  /**
   * Listing streams one job may run at once, over all its workers (`REBUILD_PARALLELISM`).
   * 1 (the default here) lists in one stream, as before key ranges existed.
   */
  parallelism?: number;
}

/**
 * Listing streams per invocation. One isolate works on one thread: at ~10 ms of CPU a 1,000-key
 * page (7 ms at a million keys, once warm) and ~100 ms a page from S3, four streams use well under
 * half of it, and more parallelism comes from more invocations (each with its own 2 s of CPU), not
 * more streams in one.
 */
export const STREAMS_PER_WORKER = 4;

/** Candidate cuts when a job is split (each becomes a range; an empty one costs one request). */
const FIRST_CUTS = 8;

/**
 * Pages from which a listing is worth splitting into ranges. Below it one stream lists the bucket
 * in at most ~2.5 s at S3's ~100 ms a page, so ranges would save little, while each costs at
 * least one more request (an empty range, a probe, a last partial page). A job is split at its
 * first page when the bucket is expected to be this large (the last job listed as many keys, or,
 * before any job, the index holds them), else once it has listed this many pages in one stream.
 */
export const RANGES_FROM_PAGES = 25;

/** What {@linkcode createRebuildService} needs. */
export interface RebuildServiceDeps {
  jobs: RebuildJobs;
  storage: Pick<ImageStorage, "listPage">;
  /** Hands the next slice to a fresh invocation. */
  continuation: Continuation;
  defaults: RebuildDefaults;
  /** Keys per listing page (tests). */
  pageSize?: number;
}

/** Options for starting a job. */
export interface StartOptions {
  /**
   * A smaller per-invocation budget (never larger than the configured one), and listing
   * settings: keys per page, streams (at most the configured parallelism).
   */
  budget?: Partial<BudgetLimits> & ListingSettings;
  /** Reconcile only: apply as soon as the listing is complete. */
  apply?: boolean;
  /** Apply even a removal of more than half of the index (after an admin read the numbers). */
  force?: boolean;
}

/** A job with its computed duration, as the API shows it. */
export type JobView = RebuildJob & { duration_ms: number };

/** The rebuild service. */
export interface RebuildService {
  /**
   * Starts a job, or returns the running one (`started: false`). A rebuild supersedes a
   * reconcile that is only waiting for review (its listing is done and nobody asked to apply
   * it): that dry run is cancelled and the rebuild starts.
   */
  start(mode: JobMode, startedBy: string, options?: StartOptions): Promise<StartResult>;
  /** Runs one slice of `job` in this request, then hands the rest to a fresh invocation. */
  drive(job: RebuildJob, worker?: string): Promise<SliceOutcome>;
  /** One slice for a continuation request, then the next hand-off when pages remain. */
  continueChain(request: ContinueRequest): Promise<SliceOutcome>;
  /** The job (latest without an id), handing a stalled one (lease expired) to a new worker. */
  status(jobId?: number): Promise<RebuildJob | null>;
  /** The scheduler's call: hands the running job on if it stalled; says whether it did. */
  resume(): Promise<{ job: RebuildJob | null; resumed: boolean }>;
  /** Hands `job` to a fresh worker if it is running, has work left and its lease is free. */
  kickIfStalled(job: RebuildJob, now: Date): Promise<boolean>;
  cancel(jobId: number): Promise<RebuildJob>;
  /** What applying a listed reconcile job would change. */
  preview(job: RebuildJob, sampleLimit: number): Promise<JobPreview>;
  /**
   * Applies a reconcile job: at once when its listing is complete, else marks it to be applied
   * when it is (`applied: false`).
   */
  apply(
    jobId: number,
    options?: { force?: boolean },
  ): Promise<{ applied: boolean; job: RebuildJob }>;
}

/** A finish's answer: applied only when it succeeded (it may be held or failed instead). */
function finished(job: RebuildJob): { applied: boolean; job: RebuildJob } {
  return { applied: job.status === "succeeded", job };
}

/** A lease owner name unique to this invocation chain. */
export function newWorkerName(jobId: number): string {
  return `job${jobId}-${crypto.randomUUID().slice(0, 13)}`;
}

/** The job with `duration_ms` (to its end, or to now while it runs). */
export function jobView(job: RebuildJob, now = new Date()): JobView {
  const end = job.finished_at ? new Date(job.finished_at) : now;
  return { ...job, duration_ms: Math.max(0, end.getTime() - new Date(job.started_at).getTime()) };
}

/** Whether a running job still needs a worker (a listed reconcile waits for a person instead). */
export function hasWorkLeft(job: RebuildJob): boolean {
  if (job.status !== "running") return false;
  return !(job.mode === "reconcile" && job.listing_complete && !job.summary?.apply);
}

/** The service over its dependencies. */
export function createRebuildService(deps: RebuildServiceDeps): RebuildService {
  const { jobs, defaults } = deps;

  const budgetOf = (job: RebuildJob): BudgetLimits => ({
    ...defaults.budget,
    cpuMs: job.summary?.budget?.cpu_ms ?? defaults.budget.cpuMs,
    wallMs: job.summary?.budget?.wall_ms ?? defaults.budget.wallMs,
  });

  const configured = Math.max(1, Math.floor(defaults.parallelism ?? 1));
  const parallelismOf = (run: Run) => Math.min(configured, run.listing?.parallelism ?? configured);
  const streamsOf = (run: Run) => Math.min(parallelismOf(run), STREAMS_PER_WORKER);

  /** The job's own listing settings, from its summary (service_role may start it with them). */
  const listingOf = (job: RebuildJob): ListingSettings | undefined => {
    const { page_size: pageSize, parallelism } = job.summary?.budget ?? {};
    if (pageSize === undefined && parallelism === undefined) return undefined;
    return { pageSize, parallelism };
  };

  /** What one invocation of a job runs with. */
  interface Run {
    jobId: number;
    worker: string;
    budget: BudgetLimits;
    listing?: ListingSettings;
    /** Which self-call of its chain this is (absent: the chain's first slice). */
    hop?: number;
    /** Started by another worker, which counted it: its first slice starts nobody. */
    spawned?: boolean;
  }

  const ranged = (run: Run) => {
    const streams = streamsOf(run);
    return runRangedSlice({
      jobs,
      storage: deps.storage,
      jobId: run.jobId,
      worker: run.worker,
      leaseSeconds: defaults.leaseSeconds,
      budget: run.budget,
      streams,
      maxWorkers: Math.ceil(parallelismOf(run) / streams),
      pageSize: run.listing?.pageSize ?? deps.pageSize,
      cpuClock: defaults.cpuClock,
      chainStart: (run.hop ?? 1) <= 1,
      spawn: run.spawned && (run.hop ?? 1) <= 1 ? undefined : async (count) => {
        for (let i = 0; i < count; i++) {
          // Its ranges are claimed in its name before it starts, so it counts among the job's
          // workers at once: a worker starting meanwhile sees them held, not free, and does not
          // start another for them. With none left free, a worker is still started to split.
          const worker = newWorkerName(run.jobId);
          const held = await jobs.claimRanges(run.jobId, worker, defaults.leaseSeconds, streams);
          if (!held || held.job.status !== "running") return;
          await deps.continuation.schedule({
            jobId: run.jobId,
            worker,
            budget: run.budget,
            ranged: true,
            spawned: true,
            ...(run.listing ? { listing: run.listing } : {}),
          });
        }
      },
    });
  };

  /** Where to cut the rest of a job's listing after `page`, once the job proves large. */
  const cutWhenLarge = async (
    run: Run,
    page: { objects: ReadonlyArray<{ key: string }> },
    job: RebuildJob,
  ): Promise<string[] | null> => {
    const threshold = RANGES_FROM_PAGES * (run.listing?.pageSize ?? deps.pageSize ?? PAGE_SIZE);
    let large = job.listed + page.objects.length >= threshold;
    if (!large && job.pages === 0) {
      large = await jobs.sizeEstimate().then((keys) => keys >= threshold, () => false);
    }
    if (!large) return null;
    const first = page.objects[0].key;
    const last = page.objects[page.objects.length - 1].key;
    // Where the index's keys lie is where the bucket's probably do: ranges of about equal size,
    // two per stream, so every stream starts at once and the ranges end about together. With no
    // such index (a first rebuild), the ladder's growing ranges, split further as they list.
    const parts = Math.min(MAX_RANGES, 2 * parallelismOf(run));
    const cuts = await jobs.keyQuantiles(last, parts).catch((error) => {
      console.error(`Rebuild ${run.jobId}: could not sample the index's keys:`, error);
      return [];
    });
    return cuts.length >= parts / 2 ? cuts : ladderBoundaries(first, last, FIRST_CUTS);
  };

  /**
   * One slice: in one stream, cutting the rest into ranges at the job's first page when more
   * than one stream is allowed; then, for a job listed in ranges, its ranges.
   */
  const slice = async (run: Run, inRanges = false): Promise<SliceOutcome> => {
    const parallelism = parallelismOf(run);
    if (inRanges) return await ranged(run);
    const outcome = await runSlice({
      jobs,
      storage: deps.storage,
      jobId: run.jobId,
      worker: run.worker,
      leaseSeconds: defaults.leaseSeconds,
      budget: run.budget,
      pageSize: run.listing?.pageSize ?? deps.pageSize,
      cpuClock: defaults.cpuClock,
      partition: parallelism > 1 ? (page, job) => cutWhenLarge(run, page, job) : undefined,
    });
    const job = "job" in outcome ? outcome.job : null;
    // Cut into ranges just now, or earlier (a job found listed in ranges lists them on).
    if ((outcome.state === "more" || outcome.state === "busy") && job?.ranges) {
      return await ranged(run);
    }
    return outcome;
  };

  const handOff = async (outcome: SliceOutcome, run: Run, hop = 1) => {
    if (outcome.state === "more") {
      if (outcome.job.ranges) {
        // Ranges held in the chain's name across the hand-off (the ones it holds, topped up from
        // the free ones), so the chain counts among the job's workers while its next invocation
        // starts, and a worker looking meanwhile does not start another in its place.
        await jobs.claimRanges(outcome.job.id, run.worker, defaults.leaseSeconds, streamsOf(run))
          .catch(() => null); // the next invocation claims them itself
      }
      await deps.continuation.schedule({
        jobId: outcome.job.id,
        worker: run.worker,
        budget: run.budget,
        hop,
        ...(outcome.job.ranges ? { ranged: true } : {}),
        ...(run.listing ? { listing: run.listing } : {}),
      });
    }
  };

  const service: RebuildService = {
    async start(mode, startedBy, options = {}) {
      const force = options.force ?? false;
      let result = await jobs.start(startedBy, mode, force);
      const running = result.job;
      if (
        !result.started && mode === "rebuild" && running.mode === "reconcile" &&
        !hasWorkLeft(running)
      ) {
        await jobs.cancel(running.id).catch(() => {}); // it may have been applied meanwhile
        result = await jobs.start(startedBy, mode, force);
      }
      if (result.started) {
        const budget = {
          cpu_ms: Math.min(options.budget?.cpuMs ?? Infinity, defaults.budget.cpuMs),
          wall_ms: Math.min(options.budget?.wallMs ?? Infinity, defaults.budget.wallMs),
          ...(options.budget?.pageSize ? { page_size: options.budget.pageSize } : {}),
          ...(options.budget?.parallelism
            ? { parallelism: Math.min(options.budget.parallelism, configured) }
            : {}),
        };
        const summary = { budget, ...(mode === "reconcile" ? { apply: !!options.apply } : {}) };
        await jobs.annotate(result.job.id, summary);
        result = { ...result, job: { ...result.job, summary } };
      }
      return result;
    },

    async drive(job, worker = newWorkerName(job.id)) {
      const run = { jobId: job.id, worker, budget: budgetOf(job), listing: listingOf(job) };
      const outcome = await slice(run, !!job.ranges);
      await handOff(outcome, run);
      return outcome;
    },

    async continueChain(request) {
      const outcome = await slice(request, request.ranged ?? false);
      await handOff(outcome, request, (request.hop ?? 1) + 1);
      return outcome;
    },

    async status(jobId) {
      const snapshot = await jobs.status(jobId);
      if (!snapshot) return null;
      await service.kickIfStalled(snapshot.job, snapshot.now);
      return snapshot.job;
    },

    async resume() {
      const snapshot = await jobs.status();
      if (!snapshot) return { job: null, resumed: false };
      return {
        job: snapshot.job,
        resumed: await service.kickIfStalled(snapshot.job, snapshot.now),
      };
    },

    async kickIfStalled(job, now) {
      if (!hasWorkLeft(job) || !leaseIsFree(job, now)) return false;
      await deps.continuation.schedule({
        jobId: job.id,
        worker: newWorkerName(job.id),
        budget: budgetOf(job),
        ...(job.ranges ? { ranged: true } : {}),
        ...(listingOf(job) ? { listing: listingOf(job) } : {}),
      });
      return true;
    },

    cancel: (jobId) => jobs.cancel(jobId),

    async preview(job, sampleLimit) {
      if (job.mode !== "reconcile") {
        throw ERRORS.Conflict(`Job ${job.id} is a rebuild, not a reconcile: it has no dry run`);
      }
      return await jobs.preview(job.id, sampleLimit);
    },

    async apply(jobId, options = {}) {
      const snapshot = await jobs.status(jobId);
      if (!snapshot) throw ERRORS.NotFound(`Rebuild ${jobId} does not exist`);
      const { job } = snapshot;
      if (job.mode !== "reconcile") {
        throw ERRORS.Conflict(`Job ${jobId} is a rebuild, not a reconcile: it applies itself`);
      }
      if (job.status !== "running") {
        throw ERRORS.Conflict(
          `Cannot apply reconcile ${jobId}: it is not running (status: ${job.status})`,
        );
      }
      if (options.force && !job.force) await jobs.force(jobId);
      if (job.listing_complete) return finished(await jobs.finish(jobId));
      await jobs.annotate(jobId, { apply: true });
      // The worker may have staged the last page just before the mark; then nobody else will
      // apply it, so do it here (a finish racing the worker's is refused by the job lock).
      const after = await jobs.status(jobId);
      if (after?.job.status === "running" && after.job.listing_complete) {
        try {
          return finished(await jobs.finish(jobId));
        } catch (error) {
          const ended = await jobs.status(jobId);
          if (ended && ended.job.status !== "running") return finished(ended.job);
          throw error;
        }
      }
      if (after) await service.kickIfStalled(after.job, after.now);
      return { applied: after?.job.status === "succeeded", job: after?.job ?? job };
    },
  };
  return service;
}
