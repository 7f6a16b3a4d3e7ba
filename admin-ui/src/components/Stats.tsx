/** @jsxImportSource preact */
/**
 * Statistics first: how many images the index holds, their size, by type, the newest ones, the
 * last rebuild (when, by whom, outcome, counts), and live sync (bucket events, docs/events.md).
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { endpoints } from "../endpoints.ts";
import { formatBytes, formatCount, formatDate, formatDuration } from "../format.ts";
import type { Job, JobBrief, StatsAnswer } from "../types.ts";
import { ErrorNote, Figure, StatusWord } from "./common.tsx";

/** Loads `GET /stats` whenever `version` changes. */
export function useStats(api: Api, version: number) {
  const [stats, setStats] = useState<StatsAnswer | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    api.call(endpoints.stats()).then(
      ({ data }) => live && (setStats(data), setError(null)),
      (caught) => live && setError(caught),
    );
    return () => void (live = false);
  }, [api, version]);
  return { stats, error };
}

/** A job as `GET /stats` reports it, or in full (with `duration_ms`) from its status route. */
type ShownJob = JobBrief & { duration_ms?: number };

/** How long a finished job took (the stats summary has no `duration_ms`). */
function durationOf(job: ShownJob): number | null {
  if (job.duration_ms !== undefined) return job.duration_ms;
  return job.finished_at ? Date.parse(job.finished_at) - Date.parse(job.started_at) : null;
}

/** One job in a sentence and a row of counts. */
export function JobSummary(props: { job: ShownJob }) {
  const job = props.job;
  return (
    <div class="job-summary">
      <p>
        {job.mode === "reconcile" ? "Reconcile" : "Rebuild"} #{job.id}{" "}
        <StatusWord
          status={job.status}
        />{" "}
        started {formatDate(job.started_at)}
        {job.started_by ? ` by ${job.started_by}` : ""}
        {job.finished_at ? `, took ${formatDuration(durationOf(job))}` : ""}
      </p>
      <dl class="figures small">
        <Figure label="Listed" value={formatCount(job.listed)} />
        <Figure label="Inserted" value={formatCount(job.inserted)} />
        <Figure label="Updated" value={formatCount(job.updated)} />
        <Figure label="Removed" value={formatCount(job.removed)} />
        <Figure label="Skipped" value={formatCount(job.skipped)} />
      </dl>
      {job.error && <p class="error">{job.error}</p>}
    </div>
  );
}

/**
 * The full row of the last rebuild: the statistics carry its counts but not who started it, which
 * `GET /rebuild/:id` has.
 */
function useJobDetails(api: Api, summary: JobBrief | null | undefined) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  const id = summary?.id;
  useEffect(() => {
    if (id === undefined) return;
    let live = true;
    // Without the details the summary still shows, beside the error.
    api.call(endpoints.job(id)).then(
      ({ data }) => live && (setJob(data.job), setError(null)),
      (caught) => live && setError(caught),
    );
    return () => void (live = false);
  }, [api, id]);
  return { job: job && job.id === id ? job : summary ?? null, error };
}

/** Images by type and the newest ones: names always rendered as text. */
function Breakdown(props: { stats: StatsAnswer }) {
  const types = Object.entries(props.stats.by_type ?? {}).sort((a, b) => b[1].count - a[1].count);
  const newest = props.stats.newest_images ?? [];
  return (
    <div class="breakdown">
      <div class="card">
        <h3>By type</h3>
        {types.length
          ? (
            <table data-testid="stats-by-type">
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Images</th>
                  <th scope="col">Size</th>
                </tr>
              </thead>
              <tbody>
                {types.map(([type, { count, bytes }]) => (
                  <tr key={type}>
                    <td>{type}</td>
                    <td>{formatCount(count)}</td>
                    <td>{formatBytes(bytes)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
          : <p class="muted">No images yet.</p>}
      </div>
      <div class="card">
        <h3>Newest images</h3>
        {newest.length
          ? (
            <ol class="newest" data-testid="stats-newest">
              {newest.map((image) => (
                <li key={image.filename}>
                  <span class="filename">{image.filename}</span>{" "}
                  <span class="muted">
                    {formatBytes(image.size_bytes ?? undefined)} · {formatDate(image.updated_at)}
                  </span>
                </li>
              ))}
            </ol>
          )
          : <p class="muted">No images yet.</p>}
      </div>
    </div>
  );
}

/**
 * Live sync: whether the function takes bucket events, the last one that changed the index, and
 * the last hour's outcomes. Absent from a function deployed before live sync: then nothing shows.
 */
function LiveSync(props: { live: StatsAnswer["live_sync"] | undefined }) {
  const live = props.live;
  if (!live) return null;
  const hour = live.last_hour;
  return (
    <div class="card" data-testid="live-sync">
      <h3>Live sync</h3>
      <p>
        Bucket events:{" "}
        <StatusWord
          status={live.enabled ? "succeeded" : "cancelled"}
          label={live.enabled ? "on" : "off"}
        />{" "}
        <span class="muted">
          {live.enabled
            ? "changes made straight in the bucket reach the index as they happen"
            : "EVENTS_SECRET is not set: changes made outside the admin UI wait for a rebuild"}
        </span>
      </p>
      <p data-testid="live-sync-last">
        Last event applied: {live.last_applied
          ? (
            <>
              <span class="filename">{live.last_applied.key}</span>{" "}
              {live.last_applied.action === "created" ? "added or replaced" : "removed"},{" "}
              {formatDate(live.last_applied.at)}
            </>
          )
          : "none yet"}
      </p>
      <h4>Events in the last hour</h4>
      <dl class="figures small">
        <Figure label="Applied" value={formatCount(hour.applied)} testId="live-sync-applied" />
        <Figure label="Ignored" value={formatCount(hour.ignored)} testId="live-sync-ignored" />
        <Figure
          label="Refused names"
          value={formatCount(hour.refused)}
          testId="live-sync-refused"
        />
        <Figure
          label="Malformed"
          value={formatCount(hour.malformed)}
          testId="live-sync-malformed"
        />
      </dl>
    </div>
  );
}

/** The statistics screen. */
export function StatsView(props: { api: Api; version: number; onRefresh: () => void }) {
  const { stats, error } = useStats(props.api, props.version);
  const { job: lastRebuild, error: detailsError } = useJobDetails(props.api, stats?.last_rebuild);
  return (
    <section aria-labelledby="stats-title">
      <div class="section-head">
        <h2 id="stats-title">Statistics</h2>
        <button type="button" onClick={props.onRefresh}>Refresh</button>
      </div>
      <ErrorNote error={error ?? detailsError} />
      <dl class="figures" aria-busy={!stats && !error}>
        <Figure label="Images indexed" value={formatCount(stats?.count)} testId="stat-count" />
        <Figure label="Total size" value={formatBytes(stats?.total_bytes)} />
        <Figure
          label="Newest image"
          value={stats?.newest
            ? (
              <>
                <span class="filename">{stats.newest.filename}</span>
                <span class="muted">{formatDate(stats.newest.updated_at)}</span>
              </>
            )
            : "—"}
        />
      </dl>
      {stats && <Breakdown stats={stats} />}
      {stats?.running_rebuild && (
        <div class="card">
          <h3>Running now</h3>
          <JobSummary job={stats.running_rebuild} />
        </div>
      )}
      <div class="card">
        <h3>Last rebuild</h3>
        {lastRebuild
          ? <JobSummary job={lastRebuild} />
          : <p class="muted">{stats ? "No rebuild has run yet." : "Loading…"}</p>}
      </div>
      <LiveSync live={stats?.live_sync} />
    </section>
  );
}
