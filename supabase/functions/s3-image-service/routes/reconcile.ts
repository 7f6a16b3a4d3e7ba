/**
 * Reconcile routes: a dry run by default (what the bucket holds that the index lacks, the
 * reverse, and what changed), then apply. A reconcile is a job of mode `reconcile`: it lists the
 * bucket like a rebuild, then waits for review instead of applying.
 *
 * @module
 */
import { z } from "zod";
import { ERRORS } from "../../_shared/errors.ts";
import { json } from "../../_shared/server/responses.ts";
import { parseJsonBody, parseQuery } from "../../_shared/server/json_body.ts";
import type { RebuildJob } from "../jobs/job_store.ts";
import { hasWorkLeft, jobView } from "../jobs/service.ts";
import type { ServiceRouteContext as RouteContext } from "../handler.ts";
import type { ServiceContext } from "../services.ts";
import {
  acceptedResponse,
  assertApplied,
  assertProgress,
  BudgetSchema,
  checkBudgetCaller,
  ForceSchema,
  jobIdParam,
  startedBy,
} from "./common.ts";
import type { ReconcileAnswer } from "../../_shared/contract.ts";

const SampleLimit = z.coerce.number().int().min(0).max(1000);

const ReconcileBody = z.strictObject({
  /** Apply as soon as the listing is complete, without a separate review step. */
  apply: z.boolean().default(false),
  /** Names listed per kind in the report. */
  sampleLimit: SampleLimit.default(100),
  budget: BudgetSchema.optional(),
  force: ForceSchema,
});

const ApplyBody = z.strictObject({ force: ForceSchema });

const ReportQuery = z.strictObject({ sampleLimit: SampleLimit.default(100) });

/** The job and, while it waits for review, its report. */
async function withReport(
  services: ServiceContext,
  job: RebuildJob,
  sampleLimit: number,
): Promise<Response> {
  const { rebuilds } = services;
  if (job.status === "running" && !hasWorkLeft(job)) {
    const report = await rebuilds.preview(job, sampleLimit);
    return json({ job: jobView(job), applied: false, report } satisfies ReconcileAnswer);
  }
  if (job.status === "succeeded") {
    return json({ job: jobView(job), applied: true } satisfies ReconcileAnswer);
  }
  if (job.status === "running") {
    return acceptedResponse(services, "reconcile", job, { applied: false });
  }
  return json({ job: jobView(job), applied: false } satisfies ReconcileAnswer);
}

/**
 * `POST /reconcile` — starts a reconcile (or joins the running one) and drives it in this
 * request. `200 {job, report}` once listed (dry run), `200 {job, applied: true}` with
 * `apply: true`, `202 {job, statusUrl}` while the listing continues.
 */
export async function startReconcile(
  { request, caller, services }: RouteContext,
): Promise<Response> {
  const body = await parseJsonBody(request, ReconcileBody);
  checkBudgetCaller(caller, body.budget);
  const { rebuilds } = services;
  const start = await rebuilds.start("reconcile", startedBy(caller), {
    apply: body.apply,
    budget: body.budget,
    force: body.force,
  });
  let job = start.job;
  if (job.mode !== "reconcile") {
    throw ERRORS.RebuildRunning(
      `Rebuild ${job.id} is running; a reconcile can start once it ends`,
      { job: jobView(job) },
    );
  }
  if (!start.started) {
    if (body.apply && !job.summary?.apply) {
      const applied = await rebuilds.apply(job.id, { force: body.force });
      assertApplied(applied.job);
      if (applied.applied) {
        return json({ job: jobView(applied.job), applied: true } satisfies ReconcileAnswer);
      }
      job = applied.job;
    }
    // Already listed and waiting for review: the same dry run again, against today's index.
    if (!hasWorkLeft(job)) return await withReport(services, job, body.sampleLimit);
  }
  const outcome = await rebuilds.drive(job);
  assertProgress(outcome);
  switch (outcome.state) {
    case "finished":
      return json({ job: jobView(outcome.job), applied: true } satisfies ReconcileAnswer);
    case "listed":
      return await withReport(services, outcome.job, body.sampleLimit);
    case "more":
    case "busy":
      return acceptedResponse(services, "reconcile", outcome.job ?? job, { applied: false });
  }
}

/**
 * `GET /reconcile/:id` — the job; while it waits for review, its report (`?sampleLimit=` names
 * per kind). Picks up a reconcile whose worker died, as the rebuild status does.
 */
export async function reconcileStatus(
  { request, params, services }: RouteContext,
): Promise<Response> {
  const id = jobIdParam(params);
  const { sampleLimit } = parseQuery(request, ReportQuery);
  const job = await services.rebuilds.status(id);
  if (!job) throw ERRORS.NotFound(`Reconcile ${id} does not exist`);
  if (job.mode !== "reconcile") {
    throw ERRORS.NotFound(`Job ${id} is a rebuild; read it at /rebuild/${id}`);
  }
  return await withReport(services, job, sampleLimit);
}

/**
 * `POST /reconcile/:id/apply` — applies the reviewed reconcile (`200`), or, while it is still
 * listing, marks it to be applied when done (`202`).
 */
export async function applyReconcile(
  { request, params, services }: RouteContext,
): Promise<Response> {
  const { force } = await parseJsonBody(request, ApplyBody);
  const { applied, job } = await services.rebuilds.apply(jobIdParam(params), { force });
  assertApplied(job);
  if (applied) return json({ job: jobView(job), applied: true } satisfies ReconcileAnswer);
  return acceptedResponse(services, "reconcile", job, { applied: false });
}
