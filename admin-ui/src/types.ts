/**
 * Shapes of the functions' answers the screens use (docs/s3-image-service.md, docs/upload.md).
 *
 * @module
 */

/** A row of the index, as `GET /files` and `POST /files` return it. */
export interface IndexEntry {
  id: number;
  filename: string;
  size_bytes: number | null;
  etag: string | null;
  content_type: string | null;
  last_modified: string | null;
  width: number | null;
  height: number | null;
  created_at: string;
  updated_at: string;
  /** Signed preview URL (only from `GET /files`). */
  url?: string;
}

/** What the mass-removal guard reports when it holds a finish for an admin's decision. */
export interface GuardSummary {
  index_count: number;
  would_insert: number;
  would_update: number;
  would_remove: number;
  removed_samples?: string[];
}

/** A rebuild or reconcile job. */
export interface Job {
  id: number;
  mode: "rebuild" | "reconcile";
  status: "running" | "succeeded" | "failed" | "cancelled" | "needs_confirmation" | string;
  started_by?: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms?: number | null;
  pages: number;
  listed: number;
  skipped: number;
  listing_complete: boolean;
  inserted: number;
  updated: number;
  removed: number;
  error: string | null;
  summary?: { guard?: GuardSummary; [key: string]: unknown } | null;
}

/** `GET /stats`. */
export interface Stats {
  count: number;
  total_bytes: number;
  newest: { filename: string; updated_at: string } | null;
  /** The five latest changes, newest first. */
  newest_images?: Array<{
    filename: string;
    updated_at: string;
    size_bytes: number | null;
    content_type: string | null;
    width: number | null;
    height: number | null;
  }>;
  /** Images and bytes per content type. */
  by_type?: Record<string, { count: number; bytes: number }>;
  last_rebuild: Job | null;
  running_rebuild: Job | null;
}

/** A reconcile dry run's report. */
export interface ReconcileReport {
  job_id: number;
  to_insert: number;
  to_update: number;
  to_remove: number;
  skipped: number;
  missing_from_index: string[];
  missing_from_bucket: string[];
  changed: string[];
}
