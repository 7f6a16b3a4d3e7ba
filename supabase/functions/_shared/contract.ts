/**
 * The HTTP contract of both functions, as types: the bodies they accept and the answers they
 * give, written from what the handlers return (docs/s3-image-service.md, docs/upload.md tell
 * the same in prose). Clients import it with `import type` (the admin UI does), so it must stay
 * free of values and imports: a type-only import is erased by every bundler, and a client never
 * pulls server code in by accident.
 *
 * Paths are relative to `…/functions/v1/`. Dates are ISO 8601 strings (JSON has no dates).
 *
 * @example
 * ```ts
 * import type { RebuildStartAnswer } from "../../supabase/functions/_shared/contract.ts";
 * const answer: RebuildStartAnswer = await response.json();
 * ```
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// Both functions

/**
 * The body of every error answer (any 4xx or 5xx), e.g.
 * `{"error": {"code": "already_exists", "message": "An image named \"a.jpg\" …"}}`.
 */
export interface ErrorBody {
  error: {
    /** A stable code (`forbidden`, `content_mismatch`, `needs_confirmation`, …). */
    code: string;
    /** One sentence a person can act on; a 500 never carries internals. */
    message: string;
    /**
     * Extra facts for clients: `suggestedName` and `detected` (content_mismatch), `job`
     * (needs_confirmation, rebuild_failed, rebuild_running), `issues` (validation_failed),
     * `allow` (method_not_allowed), `maxBytes` (payload_too_large).
     */
    details?: Record<string, unknown>;
  };
}

/** `GET /<function>/health[?deep=true]`: `200`, or `503` (deep) / `500` naming the failure. */
export interface HealthAnswer {
  ok: boolean;
  function: "s3-image-service" | "upload-to-s3";
  /** The caller's role as the function resolved it. */
  role: string;
  /** Set when the function's configuration is invalid: which setting, in a sentence. */
  configuration?: string;
  /** With `deep=true`: `"ok"` or a sentence per dependency. */
  checks?: { bucket: string; database: string };
  /** For service_role only: the worker's memory figures. */
  memory?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// s3-image-service: jobs

/** What a job does once its listing is complete. */
export type JobMode = "rebuild" | "reconcile";

/** A job's life: `running` until it reaches one of the other four, which never change again. */
export type JobStatus = "running" | "succeeded" | "failed" | "cancelled" | "needs_confirmation";

/** What the mass-removal guard held back (`summary.guard` of a `needs_confirmation` job). */
export interface RemovalGuard {
  /**
   * Which rule held the finish: `this_run` (it alone would remove more than half of the index) or
   * `window` (it would leave the index under half of its largest size in the last `window_hours`).
   */
  rule?: "this_run" | "window";
  index_count: number;
  /** The index's size had the finish been applied. */
  index_after?: number;
  would_insert: number;
  would_update: number;
  would_remove: number;
  /** The first names (up to 20) finishing would remove. */
  removed_samples: string[];
  window_hours?: number;
  /** The largest size a finish saw within the window, and when. */
  window_largest?: number;
  window_largest_at?: string;
}

/** One worker invocation's cost, as recorded on the job. */
export interface JobInvocation {
  /** Null where the runtime reports no CPU time (hosted Supabase); see `clocks`. */
  cpu_ms: number | null;
  wall_ms: number;
  pages: number;
  keys: number;
  at: string;
  /** The clocks the invocation's budget read: `["wall","work"]` or `["cpu","wall","work"]`. */
  clocks?: string[];
}

/** The job's `summary` column: what the service notes on it as it runs. */
export interface JobNotes {
  /**
   * Per-invocation budget chosen at start; `page_size` and `parallelism` when service_role chose
   * smaller listing pages or fewer streams than configured (tests and benchmarks).
   */
  budget?: { cpu_ms: number; wall_ms: number; page_size?: number; parallelism?: number };
  /** Reconcile: apply as soon as the listing is complete instead of waiting for review. */
  apply?: boolean;
  /** The first (up to 20) keys the naming rules refused, and why. */
  skipped_samples?: Array<{ key: string; problem: string }>;
  /** Set when the finish was held back (status `needs_confirmation`). */
  guard?: RemovalGuard;
  /** The last error a worker met without ending the job. */
  last_interruption?: { at: string; error: string };
}

/** A rebuild or reconcile job: a row of `s3_cache_rebuilds` plus `duration_ms`. */
export interface Job {
  id: number;
  mode: JobMode;
  status: JobStatus;
  started_by: string | null;
  started_at: string;
  finished_at: string | null;
  /** To the job's end, or to now while it runs. */
  duration_ms: number;
  continuation_token: string | null;
  listing_complete: boolean;
  pages: number;
  /** Keys the listing returned. */
  listed: number;
  /** Listed keys the naming rules refuse; counted when the job finishes. */
  skipped: number;
  inserted: number;
  updated: number;
  removed: number;
  error: string | null;
  /** Started with force: its finish applies even a removal of more than half of the index. */
  force: boolean;
  lease_owner: string | null;
  lease_expires_at: string | null;
  lease_seconds: number;
  invocations: JobInvocation[];
  summary: JobNotes | null;
  /**
   * Progress of a job listed in key ranges by several streams at once: ranges in all, and
   * ranges completely listed. Null while the job is listed in one stream (a small bucket, or
   * before its first page).
   */
  ranges?: { total: number; done: number } | null;
}

/**
 * The fields of a job `GET /stats` reports for the last and the running job (no duration, no
 * lease, no summary).
 */
export type JobBrief = Pick<
  Job,
  | "id"
  | "mode"
  | "status"
  | "started_by"
  | "started_at"
  | "finished_at"
  | "pages"
  | "listing_complete"
  | "listed"
  | "skipped"
  | "inserted"
  | "updated"
  | "removed"
  | "error"
>;

/** Any answer that carries a job, and where to read its status next while it goes on. */
export interface JobAnswer {
  job: Job;
  /**
   * Where the job's status is read while it continues in the background (in `202` answers):
   * `<SUPABASE_URL>/functions/v1/s3-image-service/<rebuild|reconcile>/<id>`, or that path alone
   * when the function does not know its public URL.
   */
  statusUrl?: string;
}

/** Body of `POST /s3-image-service/rebuild` (`budget` from service_role only). */
export interface RebuildStartBody {
  /** Apply even a finish that removes more than half of the index. */
  force?: boolean;
  budget?: StartBudget;
}

/**
 * A smaller budget than the configured one, from service_role only (tests and benchmarks):
 * milliseconds per invocation, keys per listing page (1–1000) and listing streams (at most
 * `REBUILD_PARALLELISM`).
 */
export interface StartBudget {
  cpuMs?: number;
  wallMs?: number;
  pageSize?: number;
  parallelism?: number;
}

/**
 * `POST /s3-image-service/rebuild` → `202`: the job started (`started: true`), or the running
 * one (`started: false` and a `message` naming it).
 */
export interface RebuildStartAnswer extends JobAnswer {
  started: boolean;
  statusUrl: string;
  message?: string;
}

/**
 * `POST /s3-image-service` (the seed's call): `200` when the rebuild completed within the
 * request (`count`: image keys now indexed from the bucket), else `202` with `statusUrl`.
 */
export type SeedRebuildAnswer =
  | { success: true; count: number; job: Job }
  | { success: true; started: boolean; job: Job; statusUrl: string };

/** `GET /s3-image-service/rebuild`: the latest job, null when there has been none. */
export interface LatestJobAnswer {
  job: Job | null;
}

/**
 * `GET /s3-image-service/rebuild/:id` (a job of either mode) and
 * `POST /s3-image-service/rebuild/:id/cancel`.
 */
export interface JobStatusAnswer {
  job: Job;
}

/** `POST /s3-image-service/rebuild/:id/continue` (service_role): the worker's self-call. */
export interface ContinueBody {
  worker: string;
  budget: { cpuMs: number; wallMs: number; pages?: number; keys?: number };
  hop?: number;
  /** The job is listed in key ranges: the invocation claims ranges, not the job. */
  ranged?: boolean;
  /** The job's own listing settings, when it was started with them. */
  listing?: { pageSize?: number; parallelism?: number };
}

/** `202` answer of `POST /s3-image-service/rebuild/:id/continue`. */
export interface ContinueAnswer {
  accepted: true;
  job_id: number;
  worker: string;
}

/** `POST /s3-image-service/rebuild/resume` (service_role), the scheduler's call. */
export interface ResumeAnswer {
  /** Whether a stalled job was handed to a new worker. */
  resumed: boolean;
  job: Job | null;
}

// ---------------------------------------------------------------------------------------------
// s3-image-service: reconcile

/** Body of `POST /s3-image-service/reconcile`. */
export interface ReconcileStartBody {
  /** Apply as soon as the listing is complete (default false: a dry run). */
  apply?: boolean;
  force?: boolean;
  /** Names listed per kind in the report, 0..1000 (default 100). */
  sampleLimit?: number;
  budget?: StartBudget;
}

/** Body of `POST /s3-image-service/reconcile/:id/apply`. */
export interface ReconcileApplyBody {
  force?: boolean;
}

/** What applying a listed reconcile would change: exact counts, names in byte order. */
export interface ReconcileReport {
  job_id: number;
  to_insert: number;
  to_update: number;
  to_remove: number;
  /** Keys in the bucket the naming rules refuse. */
  skipped: number;
  /** In the bucket, not in the index. */
  missing_from_index: string[];
  /** In the index, not in the bucket. */
  missing_from_bucket: string[];
  /** Size, ETag or Last-Modified differ. */
  changed: string[];
}

/**
 * `POST /s3-image-service/reconcile`, `GET /s3-image-service/reconcile/:id` and
 * `POST /s3-image-service/reconcile/:id/apply`:
 * - `200 {job, applied: false, report}`: listed, waiting for review;
 * - `200 {job, applied: true}`: applied;
 * - `202 {job, applied: false, statusUrl}`: still listing (or applying);
 * - `200 {job, applied: false}`: ended otherwise (cancelled, failed, held).
 */
export interface ReconcileAnswer extends JobAnswer {
  applied: boolean;
  report?: ReconcileReport;
}

// ---------------------------------------------------------------------------------------------
// s3-image-service: stats and files

/** `GET /s3-image-service/stats` (`s3_cache_stats()`). */
export interface StatsAnswer {
  count: number;
  total_bytes: number;
  newest: { filename: string; updated_at: string } | null;
  /** The five latest changes, newest first. */
  newest_images: Array<{
    filename: string;
    updated_at: string;
    size_bytes: number | null;
    content_type: string | null;
    width: number | null;
    height: number | null;
  }>;
  /** Images and bytes per content type. */
  by_type: Record<string, { count: number; bytes: number }>;
  last_rebuild: JobBrief | null;
  running_rebuild: JobBrief | null;
  /** Live sync: bucket change events applied through `POST /s3-image-service/events`. */
  live_sync: LiveSyncStats;
}

/** What one bucket event did to the index. */
export type EventOutcome =
  /** The index row was written or removed. */
  | "applied"
  /**
   * Nothing to do: a repeat, older than what was applied for that key, another bucket, an
   * upload's staging key, or an event kind the index does not follow.
   */
  | "ignored"
  /** A name the naming rules refuse (counted and left out, as the rebuild does). */
  | "refused";

/** `StatsAnswer.live_sync`. */
export interface LiveSyncStats {
  /** Whether this function accepts events (`EVENTS_SECRET` is set). */
  enabled: boolean;
  /** The last event that changed the index, or null when none has. */
  last_applied: {
    key: string;
    action: "created" | "removed";
    /** When it was applied (the database's clock). */
    at: string;
  } | null;
  /** Events counted in the last 60 minutes, by outcome; `malformed` = bodies answered 400. */
  last_hour: { applied: number; ignored: number; refused: number; malformed: number };
}

/** `POST /s3-image-service/events`: what the delivery's events did. */
export interface EventsAnswer {
  applied: number;
  ignored: number;
  refused: number;
}

/** An index entry as `lookup_s3_cache` returns it (the `file` of `POST /files`). */
export interface IndexEntry {
  filename: string;
  size_bytes: number | null;
  etag: string | null;
  content_type: string | null;
  last_modified: string | null;
  width: number | null;
  height: number | null;
  updated_at: string;
}

/** A row of `GET /s3-image-service/files`: the whole index row and a URL to preview it. */
export interface ListedFile extends IndexEntry {
  id: number;
  created_at: string;
  /** A signed GET (`SIGNED_URL_SECONDS`), or `PUBLIC_IMAGE_BASE_URL` + the encoded name. */
  url: string;
}

/** Query of `GET /s3-image-service/files`. */
export interface FilesQuery {
  /** Names starting with this (default ""). */
  prefix?: string;
  /** The previous page's `nextCursor`. */
  cursor?: string;
  /** 1..200, default 50. */
  limit?: number;
}

/** `GET /s3-image-service/files`: one page in S3's byte order. */
export interface FilePage {
  files: ListedFile[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** Body of `POST /s3-image-service/files`. */
export interface AddFileBody {
  filename: string;
  /** Index the name without asking the bucket (admin only). */
  force?: boolean;
}

/** `POST /s3-image-service/files`. */
export interface AddFileAnswer {
  file: IndexEntry;
  /** False when `force` indexed it without asking the bucket. */
  checked: boolean;
}

/** `DELETE /s3-image-service/files/:filename[?deleteObject=true]`. */
export interface RemoveFileAnswer {
  filename: string;
  /** Whether an index entry was removed. */
  removed: boolean;
  /** Whether the object was deleted from the bucket (only when asked). */
  objectDeleted: boolean;
}

// ---------------------------------------------------------------------------------------------
// upload-to-s3

/**
 * `POST /upload-to-s3` (multipart `file`, `filename`, `replace`) and
 * `POST /upload-to-s3/direct/confirm`: `201` when written, `200` when the same bytes were
 * already stored under the key (`unchanged: true`).
 */
export interface UploadAnswer {
  /** The key the image is stored and indexed under (the normalised name). */
  key: string;
  size: number;
  contentType: string;
  width: number;
  height: number;
  etag: string;
  /** Hex SHA-256 of the bytes, also the object's `sha256` metadata. */
  sha256: string;
  /** Whether a different image under this key was overwritten. */
  replaced: boolean;
  /** Always true: an answer without the index row is an error (`stored_not_indexed`). */
  indexed: true;
  unchanged: boolean;
}

/** Body of `POST /upload-to-s3/direct`. */
export interface DirectUploadBody {
  filename: string;
  contentType: string;
  size: number;
  /** Accepted for symmetry; the decision is made at confirm. */
  replace?: boolean;
}

/** `200` answer of `POST /upload-to-s3/direct`: what the browser needs to send the bytes. */
export interface DirectUploadTicket {
  /** Presigned PUT URL for the staging key. */
  uploadUrl: string;
  method: "PUT";
  /** Headers the PUT must carry exactly (they are part of the signature). */
  headers: { "content-type": string };
  /** The live key the image will have once confirmed. */
  key: string;
  /** Where the bytes go first; pass it to the confirm call. */
  stagingKey: string;
  /** When `uploadUrl` stops working. */
  expiresAt: string;
  /** Whether an image already has `key` (confirming then needs replace or the same bytes). */
  exists: boolean;
}

/** Body of `POST /upload-to-s3/direct/confirm`. */
export interface DirectConfirmBody {
  stagingKey: string;
  replace?: boolean;
}
