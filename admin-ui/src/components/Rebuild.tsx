/** @jsxImportSource preact */
/**
 * Rebuild the index from the bucket (admins): confirmation, live progress, cancel, the final
 * delta, and the held state when the finish would remove most of the index. A running job is
 * picked up when the screen opens, whoever started it.
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { endpoints } from "../endpoints.ts";
import { formatCount, formatDate, formatDuration } from "../format.ts";
import { jobProgress, rangesProgress } from "../job_progress.ts";
import { may, type Role } from "../session.ts";
import type { Job, JobAnswer, RemovalGuard } from "../types.ts";
import { useJob } from "../use_job.ts";
import { ConfirmDialog, ErrorNote, Figure, StatusWord } from "./common.tsx";

/**
 * The card of a job held by the mass-removal guard: its numbers, and for admins the button that
 * repeats it with force.
 */
export function HeldCard(
  props: {
    guard: RemovalGuard;
    isAdmin: boolean;
    busy: boolean;
    forceLabel: string;
    onForce: () => void;
  },
) {
  return (
    <div class="card warn">
      <h3>Held for confirmation</h3>
      <GuardDetails guard={props.guard} />
      {props.isAdmin && (
        <button type="button" class="danger" disabled={props.busy} onClick={props.onForce}>
          {props.forceLabel}
        </button>
      )}
    </div>
  );
}

/** The numbers of a held finish and the names it would remove. */
export function GuardDetails(props: { guard: RemovalGuard }) {
  const { guard } = props;
  return (
    <div class="held" data-testid="held">
      {guard.rule === "window" && guard.window_largest !== undefined
        ? (
          <p>
            Finishing would remove <strong>{formatCount(guard.would_remove)}</strong>{" "}
            images and leave{" "}
            {formatCount(guard.index_after ?? guard.index_count - guard.would_remove)}{" "}
            — under half of the {formatCount(guard.window_largest)} the index held in the last{" "}
            {guard.window_hours ?? 24}{" "}
            hours — so nothing was changed. If the bucket really lost those images over these runs,
            force the finish.
          </p>
        )
        : (
          <p>
            Finishing would remove <strong>{formatCount(guard.would_remove)}</strong> of the{" "}
            {formatCount(guard.index_count)}{" "}
            images in the index — more than half — so nothing was changed. If the bucket really lost
            those images (or you are pointing at a new bucket), force the finish.
          </p>
        )}
      <dl class="figures small">
        <Figure label="In the index" value={formatCount(guard.index_count)} />
        <Figure label="Would insert" value={formatCount(guard.would_insert)} />
        <Figure label="Would update" value={formatCount(guard.would_update)} />
        <Figure
          label="Would remove"
          value={formatCount(guard.would_remove)}
          testId="would-remove"
        />
      </dl>
      {guard.removed_samples && guard.removed_samples.length > 0 && (
        <details>
          <summary>Some of the names it would remove</summary>
          <ul class="names">
            {guard.removed_samples.map((name) => <li key={name} class="filename">{name}</li>)}
          </ul>
        </details>
      )}
    </div>
  );
}

/** A job's progress bar and figures. */
export function JobProgressView(props: { job: Job; expectedKeys: number | null }) {
  const { job } = props;
  const progress = jobProgress(job, props.expectedKeys);
  const percent = progress.fraction === null ? undefined : Math.round(progress.fraction * 100);
  const ranges = rangesProgress(job);
  return (
    <div class="job-progress" data-job-id={job.id}>
      <p>
        {job.mode === "reconcile" ? "Reconcile" : "Rebuild"} #{job.id}{" "}
        <StatusWord
          status={job.status}
          label={job.mode === "reconcile" && job.status === "running" && job.listing_complete
            ? "listed: waiting for review"
            : undefined}
        />{" "}
        — started {formatDate(job.started_at)}
        {job.started_by ? ` by ${job.started_by}` : ""}
      </p>
      <progress
        max={100}
        value={percent}
        aria-label="Rebuild progress"
        aria-valuetext={percent === undefined ? "working" : `${percent}%`}
      />
      <dl class="figures small">
        <Figure label="Pages" value={formatCount(job.pages)} testId="job-pages" />
        <Figure label="Keys listed" value={formatCount(job.listed)} testId="job-listed" />
        {ranges && <Figure label="Key ranges listed" value={ranges} testId="job-ranges" />}
        <Figure label="Rate" value={`${formatCount(Math.round(progress.keysPerSecond))} keys/s`} />
        <Figure label="Elapsed" value={formatDuration(progress.elapsedMs)} />
        {job.status === "running" && (
          <Figure
            label="Estimate"
            value={progress.remainingMs === null
              ? "—"
              : `about ${formatDuration(progress.remainingMs)} left`}
          />
        )}
      </dl>
      {job.status !== "running" && job.status !== "needs_confirmation" && (
        <dl class="figures small" aria-label="What the job changed">
          <Figure label="Inserted" value={formatCount(job.inserted)} testId="job-inserted" />
          <Figure label="Updated" value={formatCount(job.updated)} testId="job-updated" />
          <Figure label="Removed" value={formatCount(job.removed)} testId="job-removed" />
          <Figure label="Skipped" value={formatCount(job.skipped)} testId="job-skipped" />
        </dl>
      )}
      {/* A held job's note is the guard's; its card below says it in full. */}
      {job.error && job.status !== "needs_confirmation" && <p class="error">{job.error}</p>}
    </div>
  );
}

/** The rebuild screen. */
export function RebuildView(props: { api: Api; role: Role; onFinished: () => void }) {
  const { api } = props;
  const isAdmin = may(props.role, "admins");
  const { answer, follow, error, setError } = useJob<JobAnswer>(api, {
    onFinal: props.onFinished,
  });
  const job = answer?.job ?? null;
  const [expectedKeys, setExpectedKeys] = useState<number | null>(null);
  const [asking, setAsking] = useState<"start" | "force" | null>(null);
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    // Pick up the latest job (a running one is then followed live) and the index size.
    api.call(endpoints.latestJob()).then(
      ({ data }) => data.job && follow({ job: data.job }, { ifIdle: true }),
      setError,
    );
    api.call(endpoints.stats()).then(
      ({ data }) => setExpectedKeys(data.count),
      setError,
    );
  }, [api]);

  async function act(work: () => Promise<void>) {
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      await work();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const start = (force: boolean) =>
    act(async () => {
      setAsking(null);
      const { data } = await api.call(endpoints.startRebuild(force));
      if (data.started === false && data.message) setNotice(data.message);
      follow(data);
    });

  const cancel = () =>
    act(async () => {
      const { data } = await api.call(endpoints.cancelJob(job!.id));
      follow(data);
    });

  const running = job?.status === "running";
  const held = job?.status === "needs_confirmation" && job.mode === "rebuild" ? job : null;
  return (
    <section aria-labelledby="rebuild-title">
      <h2 id="rebuild-title">Rebuild the index</h2>
      <p class="hint">
        Lists the whole bucket and makes the index match it in one transaction at the end: the
        storefront keeps the old index until then, and uploads made meanwhile are kept.
      </p>
      {isAdmin
        ? (
          <div class="toolbar">
            <button
              type="button"
              class="primary"
              disabled={busy || running}
              onClick={() => setAsking("start")}
            >
              Rebuild index
            </button>
            {running && (
              <button type="button" disabled={busy} onClick={cancel}>Cancel rebuild</button>
            )}
          </div>
        )
        : (
          <p class="notice" role="note">
            Only admins can rebuild the index. You can follow a running rebuild here.
          </p>
        )}
      {notice && <p role="status">{notice}</p>}
      <ErrorNote error={error} />
      {job
        ? <JobProgressView job={job} expectedKeys={expectedKeys} />
        : <p class="muted">No rebuild has run yet.</p>}
      {held?.summary?.guard && (
        <HeldCard
          guard={held.summary.guard}
          isAdmin={isAdmin}
          busy={busy}
          forceLabel="Force finish"
          onForce={() => setAsking("force")}
        />
      )}
      <ConfirmDialog
        open={asking === "start"}
        title="Rebuild the index?"
        confirmLabel="Start rebuild"
        onConfirm={() => start(false)}
        onCancel={() => setAsking(null)}
      >
        <p>
          The whole bucket is listed; entries are added, updated and removed to match it. A finish
          that would remove more than half of the index waits for your confirmation.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={asking === "force"}
        title="Force the rebuild?"
        confirmLabel={`Remove ${formatCount(held?.summary?.guard?.would_remove ?? 0)} entries`}
        danger
        onConfirm={() => start(true)}
        onCancel={() => setAsking(null)}
      >
        <p>
          The bucket will be listed again and the index made to match it, removing what the bucket
          no longer has. The storefront stops showing those images.
        </p>
      </ConfirmDialog>
    </section>
  );
}
