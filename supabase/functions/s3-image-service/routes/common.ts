/**
 * Pieces the route files share: job ids from the path, the optional budget of a start, and how
 * a slice's outcome becomes a response.
 *
 * @module
 */
import { z } from "zod";
import { type Caller, requireRole, ROLES } from "../../_shared/auth/roles.ts";
import { ERRORS } from "../../_shared/errors.ts";
import { json } from "../../_shared/server/responses.ts";
import type { RebuildJob } from "../jobs/job_store.ts";
import { jobView } from "../jobs/service.ts";
import type { SliceOutcome } from "../jobs/slice.ts";
import { type ServiceContext, statusUrl } from "../services.ts";
import type { JobAnswer } from "../../_shared/contract.ts";

/** `:id` of a job: a positive integer. */
export function jobIdParam(params: Record<string, string>): number {
  const id = Number(params.id);
  if (!/^\d+$/.test(params.id ?? "") || !Number.isSafeInteger(id) || id < 1) {
    throw ERRORS.ValidationFailed(`Invalid job id "${params.id}": expected a positive integer`);
  }
  return id;
}

/**
 * A smaller per-invocation budget than the configured one (service_role only: tests and
 * benchmarks use it to make a small bucket take several invocations).
 */
export const BudgetSchema = z.strictObject({
  cpuMs: z.number().int().min(10).optional(),
  wallMs: z.number().int().min(50).optional(),
  /** Keys per listing page: a small bucket then takes many pages (and ranges). */
  pageSize: z.number().int().min(1).max(1000).optional(),
  /** Listing streams, at most the configured REBUILD_PARALLELISM (1: one stream). */
  parallelism: z.number().int().min(1).max(64).optional(),
});

/** Refuses a budget from anyone but service_role. */
export function checkBudgetCaller(caller: Caller, budget: unknown): void {
  if (budget !== undefined) requireRole(caller, ROLES.service, "set a rebuild budget");
}

/** Who started a job, as recorded on it. */
export function startedBy(caller: Caller): string {
  return caller.email ?? `${caller.role}:${caller.id}`;
}

/** A slice's outcome that leaves the job running or done. */
export type ProgressOutcome = Extract<
  SliceOutcome,
  { state: "finished" | "more" | "listed" | "busy" }
>;

/**
 * Throws the error a slice that could not go on turns into, carrying the job: `502
 * rebuild_failed`, `409 conflict` (it ended elsewhere, e.g. cancelled) or `503
 * database_unavailable` (paused).
 */
export function assertProgress(outcome: SliceOutcome): asserts outcome is ProgressOutcome {
  switch (outcome.state) {
    case "held":
      throw heldError(outcome.job);
    case "failed":
      throw ERRORS.RebuildFailed(
        outcome.job.error ?? `Rebuild ${outcome.job.id} failed`,
        { job: jobView(outcome.job) },
      );
    case "ended":
      throw ERRORS.Conflict(
        outcome.job
          ? `Job ${outcome.job.id} ended while it was being driven (status: ${outcome.job.status})`
          : "The job ended while it was being driven",
        outcome.job ? { job: jobView(outcome.job) } : undefined,
      );
    case "paused":
      throw ERRORS.DatabaseUnavailable(
        "The image index is unavailable right now; the job is paused and resumes by itself once the database is back",
      );
  }
}

/**
 * Throws unless a finished job was applied: `409 needs_confirmation` when finish held a mass
 * removal back (the numbers in `details.job.summary.guard`; repeat with `force: true`), `502
 * rebuild_failed` when finish refused (e.g. the staged pages did not add up).
 */
export function assertApplied(job: RebuildJob): void {
  if (job.status === "needs_confirmation") throw heldError(job);
  if (job.status === "failed") {
    throw ERRORS.RebuildFailed(job.error ?? `Job ${job.id} failed`, { job: jobView(job) });
  }
}

function heldError(job: RebuildJob) {
  return ERRORS.NeedsConfirmation(
    job.error ??
      `${
        job.mode === "rebuild" ? "Rebuild" : "Reconcile"
      } ${job.id} would remove more than half of the index; repeat it with force: true to apply it`,
    { job: jobView(job) },
  );
}

/** `force`: apply even a removal of more than half of the index (admins, after the numbers). */
export const ForceSchema = z.boolean().default(false);

/** `202 Accepted` for a job that goes on in the background. */
export function acceptedResponse(
  services: ServiceContext,
  kind: "rebuild" | "reconcile",
  job: RebuildJob,
  extra: Record<string, unknown> = {},
): Response {
  return json(
    {
      ...extra,
      job: jobView(job),
      statusUrl: statusUrl(services, kind, job.id),
    } satisfies JobAnswer,
    202,
  );
}
