/** @jsxImportSource preact */
/**
 * Reconcile (admins): a dry run lists the bucket and shows both directions — in the bucket but
 * not the index, in the index but not the bucket, changed — then Apply makes the index match.
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { endpoints } from "../endpoints.ts";
import { formatCount } from "../format.ts";
import { may, type Role } from "../session.ts";
import type { ReconcileAnswer } from "../types.ts";
import { useJob } from "../use_job.ts";
import { ConfirmDialog, ErrorNote, Figure } from "./common.tsx";
import { HeldCard, JobProgressView } from "./Rebuild.tsx";

function NameList(props: { title: string; names: string[]; total: number }) {
  return (
    <div class="card">
      <h3>{props.title} ({formatCount(props.total)})</h3>
      {props.names.length === 0 ? <p class="muted">None.</p> : (
        <ul class="names">
          {props.names.map((name) => <li key={name} class="filename">{name}</li>)}
        </ul>
      )}
      {props.total > props.names.length && (
        <p class="muted">…and {formatCount(props.total - props.names.length)} more.</p>
      )}
    </div>
  );
}

/** The reconcile screen. */
export function ReconcileView(props: { api: Api; role: Role; onApplied: () => void }) {
  const { api } = props;
  const isAdmin = may(props.role, "admins");
  // Polling ends once the dry run's report is there (it waits for review) or the job ended.
  const { answer, follow, error, setError } = useJob<ReconcileAnswer>(api, {
    isFinal: (next) => next.job.status !== "running" || next.report !== undefined,
    onFinal: (next) => next.job.status === "succeeded" && props.onApplied(),
    statusUrlOf: (job) => api.functionUrl(endpoints.reconcile(job.id).path),
  });
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState<"apply" | "force" | null>(null);
  const job = answer?.job;
  const waiting = job?.status === "running" && !answer?.report;

  // A reconcile left waiting for review (or held) is picked up when the screen opens.
  useEffect(() => {
    let live = true;
    (async () => {
      const { data } = await api.call(endpoints.latestJob());
      const latest = data.job;
      if (!latest || latest.mode !== "reconcile") return;
      if (latest.status !== "running" && latest.status !== "needs_confirmation") return;
      const { data: pending } = await api.call(endpoints.reconcile(latest.id));
      if (live) follow(pending, { ifIdle: true });
    })().catch((caught) => live && setError(caught));
    return () => void (live = false);
  }, [api]);

  async function act(work: () => Promise<ReconcileAnswer>) {
    setAsking(null);
    setBusy(true);
    setError(null);
    try {
      const data = await work();
      follow(data);
      if (data.applied && data.job.status === "succeeded") props.onApplied();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const dryRun = () => act(async () => (await api.call(endpoints.startReconcile())).data);
  const apply = (force: boolean) =>
    act(async () => {
      const { data } = await api.call(endpoints.applyReconcile(job!.id, force));
      // The apply answer has no report: keep following the job until it settles.
      return { ...data, report: undefined };
    });

  const report = answer?.report;
  const guard = job?.status === "needs_confirmation" ? job.summary?.guard : undefined;
  return (
    <section aria-labelledby="reconcile-title">
      <h2 id="reconcile-title">Reconcile</h2>
      <p class="hint">
        Compares the bucket with the index without changing anything, then applies the difference
        when you say so.
      </p>
      {isAdmin
        ? (
          <div class="toolbar">
            <button type="button" class="primary" disabled={busy || waiting} onClick={dryRun}>
              Dry run
            </button>
            {report && job?.status === "running" && (
              <button
                type="button"
                disabled={busy}
                onClick={() => setAsking("apply")}
              >
                Apply
              </button>
            )}
          </div>
        )
        : <p class="notice" role="note">Only admins can reconcile the index with the bucket.</p>}
      <ErrorNote error={error} />
      {job && <JobProgressView job={job} expectedKeys={null} />}
      {report && job?.status === "running" && (
        <>
          <dl class="figures">
            <Figure label="To insert" value={formatCount(report.to_insert)} testId="to-insert" />
            <Figure label="To update" value={formatCount(report.to_update)} testId="to-update" />
            <Figure label="To remove" value={formatCount(report.to_remove)} testId="to-remove" />
            <Figure label="Skipped keys" value={formatCount(report.skipped)} />
          </dl>
          <div class="columns">
            <NameList
              title="In the bucket, not in the index"
              names={report.missing_from_index}
              total={report.to_insert}
            />
            <NameList
              title="In the index, not in the bucket"
              names={report.missing_from_bucket}
              total={report.to_remove}
            />
            <NameList title="Changed" names={report.changed} total={report.to_update} />
          </div>
        </>
      )}
      {guard && (
        <HeldCard
          guard={guard}
          isAdmin={isAdmin}
          busy={busy}
          forceLabel="Force apply"
          onForce={() => setAsking("force")}
        />
      )}
      <ConfirmDialog
        open={asking === "apply"}
        title="Apply the reconcile?"
        confirmLabel="Apply"
        onConfirm={() => apply(false)}
        onCancel={() => setAsking(null)}
      >
        <p>
          {formatCount(report?.to_insert ?? 0)} added, {formatCount(report?.to_update ?? 0)}{" "}
          updated, {formatCount(report?.to_remove ?? 0)} removed, in one transaction.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={asking === "force"}
        title="Force the apply?"
        confirmLabel={`Remove ${formatCount(guard?.would_remove ?? 0)} entries`}
        danger
        onConfirm={() => apply(true)}
        onCancel={() => setAsking(null)}
      >
        <p>The index is made to match the bucket, removing what the bucket no longer has.</p>
      </ConfirmDialog>
    </section>
  );
}
