/**
 * Rebuild and reconcile jobs (`public.s3_cache_rebuilds`) seen from TypeScript: a thin, typed
 * layer over the SQL rebuild primitives (`s3_cache_rebuild_start`, `_claim`, `_stage_page`, the
 * range calls (`_partition`, `_claim_ranges`, `_stage_range_page`, `_split_range`),
 * `_record_invocation`, `_preview`, `_finish`, `_fail`, `_cancel`, `_status`). The rules (one
 * running job, leases, compare-and-set on the continuation token, the atomic delta) live in SQL;
 * this module only moves values across.
 *
 * @module
 */
import type { Sql } from "../../_shared/platform/db.ts";
import { encodeListingPage, type ListedKey } from "./listing_page.ts";

// The job's own shapes are the HTTP contract's (one definition for server and clients).
export type { JobMode, JobStatus, RemovalGuard } from "../../_shared/contract.ts";
export type { JobInvocation as Invocation } from "../../_shared/contract.ts";
import type { Job, JobMode, JobNotes } from "../../_shared/contract.ts";

/** A listing key our naming rules refuse, with the reason. */
export interface SkippedKey {
  key: string;
  problem: string;
}

/** What the service keeps in the job's `summary` column (see {@linkcode RebuildJobs.annotate}). */
export type JobSummary = JobNotes;

/** How many skipped keys a job remembers by name. */
export const MAX_SKIPPED_SAMPLES = 20;

/** A row of `s3_cache_rebuilds`, as the SQL API returns it (`to_jsonb`): the contract's job without `duration_ms`, which `jobView` adds. */
export type RebuildJob = Omit<Job, "duration_ms">;

/** `s3_cache_rebuild_start`'s answer. */
export interface StartResult {
  started: boolean;
  job: RebuildJob;
  message?: string;
}

/** `s3_cache_rebuild_preview`'s answer: what finishing would change, with samples. */
export interface JobPreview {
  job_id: number;
  to_insert: number;
  to_update: number;
  to_remove: number;
  /** Listed keys the naming rules refuse (left out of the index). */
  skipped: number;
  missing_from_index: string[];
  missing_from_bucket: string[];
  changed: string[];
}

/** One listing page to stage. */
export interface StagedPage {
  /** The continuation token the page was listed from (null for the first page). */
  previousToken: string | null;
  /** The token of the page after it; null when this was the last page. */
  nextToken: string | null;
  objects: ReadonlyArray<ListedKey>;
}

/** A key range of a partitioned job (`s3_cache_rebuild_ranges`), as the SQL API returns it. */
export interface KeyRange {
  range: number;
  /** The range holds the keys after this one… */
  start_after: string;
  /** …up to and including this one; null: to the end of the bucket. */
  up_to: string | null;
  /** The last key staged; the next page is listed after it (null: nothing staged yet). */
  last_key: string | null;
  complete: boolean;
  lease_owner: string | null;
  pages: number;
  listed: number;
}

/** `s3_cache_rebuild_claim_ranges`'s answer. */
export interface RangeClaim {
  job: RebuildJob;
  /** The ranges the worker holds now (empty for a job listed in one stream). */
  ranges: KeyRange[];
  /** Incomplete ranges nobody holds. */
  free: number;
  /** Workers holding a live lease on a range, the caller included. */
  workers: number;
  /** Every incomplete range of the job, whoever holds it (what an idle worker may split). */
  open: KeyRange[];
}

/** One page of a range to stage. */
export interface StagedRangePage {
  range: number;
  /** The range's position the page was listed after (null: its start). */
  previousKey: string | null;
  /** The page's last key (null when it holds none). */
  lastKey: string | null;
  /** Nothing of the range follows this page. */
  complete: boolean;
  objects: ReadonlyArray<ListedKey>;
}

/** The cost of one invocation, to record on the job. */
export interface InvocationCost {
  /** Null when CPU time was not measured. */
  cpuMs: number | null;
  wallMs: number;
  pages: number;
  keys: number;
  /** Which clocks the budget read. */
  clocks: readonly string[];
}

/** A job and the database's clock when it was read (leases are judged by that clock). */
export interface JobSnapshot {
  job: RebuildJob;
  now: Date;
}

/** The rebuild primitives, typed. Every call raises the SQL API's errors unchanged. */
export interface RebuildJobs {
  start(startedBy: string, mode: JobMode, force?: boolean): Promise<StartResult>;
  /** Marks a running job to be applied even if it removes more than half of the index. */
  force(jobId: number): Promise<RebuildJob>;
  /** Takes or renews the lease; null when another live worker holds it or the job ended. */
  claim(jobId: number, worker: string, leaseSeconds: number): Promise<RebuildJob | null>;
  stagePage(jobId: number, worker: string, page: StagedPage): Promise<RebuildJob>;
  /**
   * Stages a page of a job listed in one stream so far (compare-and-set on `previousToken`) and
   * cuts the keys after `afterKey` into ranges at `boundaries` (`s3_cache_rebuild_partition`).
   */
  partition(
    jobId: number,
    worker: string,
    page: {
      previousToken: string | null;
      objects: ReadonlyArray<ListedKey>;
      afterKey: string;
      boundaries: string[];
    },
  ): Promise<RebuildJob>;
  /**
   * What the bucket probably holds, before listing it: the keys the last successful job listed,
   * else the index's size.
   */
  sizeEstimate(): Promise<number>;
  /**
   * Up to `parts - 1` keys of the index after `after`, in S3's order, that cut the index's keys
   * after it into `parts` about equal runs: where the bucket's keys probably lie, so a job can be
   * cut into ranges of about equal size at once instead of found by probing. From a sample of a
   * large index (its order statistics hold, and it costs milliseconds at a million rows).
   */
  keyQuantiles(after: string, parts: number): Promise<string[]>;
  /** Renews and takes range leases up to `maxRanges`; null when the job is not running. */
  claimRanges(
    jobId: number,
    worker: string,
    leaseSeconds: number,
    maxRanges: number,
  ): Promise<RangeClaim | null>;
  stageRangePage(
    jobId: number,
    worker: string,
    page: StagedRangePage,
  ): Promise<{ job: RebuildJob; range: KeyRange }>;
  /** Splits `range` after `atKey`; the new range is leased to `worker`. */
  splitRange(
    jobId: number,
    range: number,
    worker: string,
    atKey: string,
    leaseSeconds: number,
  ): Promise<{ job: RebuildJob; range: KeyRange }>;
  recordInvocation(jobId: number, cost: InvocationCost): Promise<void>;
  preview(jobId: number, sampleLimit: number): Promise<JobPreview>;
  finish(jobId: number): Promise<RebuildJob>;
  fail(jobId: number, error: string): Promise<RebuildJob>;
  cancel(jobId: number): Promise<RebuildJob>;
  /** The job, or the latest one without an id; null when there is none. */
  status(jobId?: number): Promise<JobSnapshot | null>;
  /**
   * Merges `patch` into the job's `summary` (`s3_cache_rebuild_annotate`), appending skipped
   * samples up to {@linkcode MAX_SKIPPED_SAMPLES}.
   */
  annotate(jobId: number, patch: JobSummary): Promise<void>;
}

/** Whether a running job's lease is free or has expired at `now`. */
export function leaseIsFree(job: RebuildJob, now: Date): boolean {
  if (job.status !== "running") return false;
  if (!job.lease_owner || !job.lease_expires_at) return true;
  return new Date(job.lease_expires_at).getTime() <= now.getTime();
}

/** The rebuild primitives over `sql` (postgres.js). */
export function createRebuildJobs(sql: Sql): RebuildJobs {
  return {
    async start(startedBy, mode, force = false) {
      const [{ result }] = await sql`
        select public.s3_cache_rebuild_start(${startedBy}, ${mode}, ${force}) as result`;
      return result as StartResult;
    },

    async force(jobId) {
      const [{ job }] = await sql`select public.s3_cache_rebuild_force(${jobId}) as job`;
      return job as RebuildJob;
    },

    async claim(jobId, worker, leaseSeconds) {
      const [{ job }] = await sql`
        select public.s3_cache_rebuild_claim(${jobId}, ${worker}, ${leaseSeconds}) as job`;
      return (job ?? null) as RebuildJob | null;
    },

    async stagePage(jobId, worker, page) {
      const [{ job }] = await sql`
        select public.s3_cache_rebuild_stage_page(
          ${jobId}, ${worker}, ${page.previousToken}, ${page.nextToken},
          ${encodeListingPage(page.objects)}::text
        ) as job`;
      return job as RebuildJob;
    },

    async partition(jobId, worker, page) {
      const [{ job }] = await sql`
        select public.s3_cache_rebuild_partition(
          ${jobId}, ${worker}, ${page.previousToken}::text, ${
        encodeListingPage(page.objects)
      }::text,
          ${page.afterKey}::text, ${page.boundaries}::text[]
        ) as job`;
      return job as RebuildJob;
    },

    async sizeEstimate() {
      // The last job's count when there is one (counting a large index costs more).
      const [{ keys }] = await sql`
        select coalesce(
          (select r.listed from public.s3_cache_rebuilds as r
           where r.status = 'succeeded' order by r.id desc limit 1),
          (select count(*) from public.s3_image_cache)
        )::float8 as keys`;
      return Number(keys ?? 0);
    },

    async keyQuantiles(after, parts) {
      if (parts < 2) return [];
      const fractions = Array.from({ length: parts - 1 }, (_, i) => (i + 1) / parts);
      // About 20,000 rows sampled whatever the index's size (all of a small one): the cuts land
      // within ~1% of where exact quantiles would, at a sort of 20,000 short strings.
      const [{ keys }] = await sql`
        with size as (
          select greatest(c.reltuples, 1)::float8 as rows
          from pg_catalog.pg_class as c where c.oid = 'public.s3_image_cache'::regclass
        )
        select percentile_disc(${fractions}::float8[]) within group (
          order by i.filename collate "C"
        ) as keys
        from public.s3_image_cache as i
          tablesample system ((select least(100, 2e6 / rows) from size))
        where i.filename collate "C" > ${after}::text collate "C"`;
      const cuts = (keys ?? []) as Array<string | null>;
      return cuts.filter((key, i): key is string => key !== null && key !== cuts[i - 1]);
    },

    async claimRanges(jobId, worker, leaseSeconds, maxRanges) {
      const [{ claim }] = await sql`
        select public.s3_cache_rebuild_claim_ranges(
          ${jobId}, ${worker}, ${leaseSeconds}, ${maxRanges}
        ) as claim`;
      return (claim ?? null) as RangeClaim | null;
    },

    async stageRangePage(jobId, worker, page) {
      const [{ staged }] = await sql`
        select public.s3_cache_rebuild_stage_range_page(
          ${jobId}, ${page.range}, ${worker}, ${page.previousKey}::text, ${page.lastKey}::text,
          ${page.complete}, ${encodeListingPage(page.objects)}::text
        ) as staged`;
      return staged as { job: RebuildJob; range: KeyRange };
    },

    async splitRange(jobId, range, worker, atKey, leaseSeconds) {
      const [{ split }] = await sql`
        select public.s3_cache_rebuild_split_range(
          ${jobId}, ${range}, ${worker}, ${atKey}::text, ${leaseSeconds}
        ) as split`;
      return split as { job: RebuildJob; range: KeyRange };
    },

    async recordInvocation(jobId, cost) {
      const round = (ms: number) => Math.round(ms * 10) / 10;
      await sql`select public.s3_cache_rebuild_record_invocation(
        ${jobId}, ${cost.cpuMs === null ? null : round(cost.cpuMs)}::numeric,
        ${round(cost.wallMs)}, ${cost.pages}, ${cost.keys}, ${cost.clocks as string[]}::text[])`;
    },

    async preview(jobId, sampleLimit) {
      const [{ preview }] = await sql`
        select public.s3_cache_rebuild_preview(${jobId}, ${sampleLimit}) as preview`;
      return preview as JobPreview;
    },

    async finish(jobId) {
      const [{ job }] = await sql`select public.s3_cache_rebuild_finish(${jobId}) as job`;
      return job as RebuildJob;
    },

    async fail(jobId, error) {
      const [{ job }] = await sql`select public.s3_cache_rebuild_fail(${jobId}, ${error}) as job`;
      return job as RebuildJob;
    },

    async cancel(jobId) {
      const [{ job }] = await sql`select public.s3_cache_rebuild_cancel(${jobId}) as job`;
      return job as RebuildJob;
    },

    async status(jobId) {
      const [row] = await sql`select public.s3_cache_rebuild_status(${
        jobId ?? null
      }::bigint) as job,
          clock_timestamp() as now`;
      if (!row?.job) return null;
      return { job: row.job as RebuildJob, now: row.now as Date };
    },

    async annotate(jobId, patch) {
      await sql`select public.s3_cache_rebuild_annotate(
        ${jobId}, ${sql.json(patch as never)}::jsonb, ${MAX_SKIPPED_SAMPLES}
      )`;
    },
  };
}
