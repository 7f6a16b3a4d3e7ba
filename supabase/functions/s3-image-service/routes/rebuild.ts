/**
 * Rebuild routes: the seed's `POST /`, start, status (which also picks up a job whose worker
 * died), the worker's self-continuation, and cancel.
 *
 * @module
 */
import { z } from "zod";
import { runInBackground } from "../jobs/continuation.ts";
import { ERRORS } from "../../_shared/errors.ts";
import { json } from "../../_shared/server/responses.ts";
import { parseJsonBody } from "../../_shared/server/json_body.ts";
import { jobView } from "../jobs/service.ts";
import type { ServiceRouteContext as RouteContext } from "../handler.ts";
import {
  acceptedResponse,
  assertProgress,
  BudgetSchema,
  checkBudgetCaller,
  ForceSchema,
  jobIdParam,
  startedBy,
} from "./common.ts";
import type {
  ContinueAnswer,
  JobStatusAnswer,
  LatestJobAnswer,
  SeedRebuildAnswer,
} from "../../_shared/contract.ts";

/** The seed sent a bare POST (or a few fields we ignore); only `budget` means something here. */
const SeedBody = z.looseObject({ budget: BudgetSchema.optional(), force: ForceSchema });

const StartBody = z.strictObject({ budget: BudgetSchema.optional(), force: ForceSchema });

const ContinueBody = z.strictObject({
  worker: z.string().min(1).max(100),
  budget: z.strictObject({
    cpuMs: z.number().positive(),
    wallMs: z.number().positive(),
    pages: z.number().int().positive().optional(),
    keys: z.number().int().positive().optional(),
  }),
  hop: z.number().int().positive().optional(),
  ranged: z.boolean().optional(),
  spawned: z.boolean().optional(),
  listing: z.strictObject({
    pageSize: z.number().int().min(1).max(1000).optional(),
    parallelism: z.number().int().min(1).max(64).optional(),
  }).optional(),
});

const runningReconcile = (job: { id: number; mode: string }) =>
  ERRORS.RebuildRunning(
    `Reconcile ${job.id} is running; apply or cancel it before starting a rebuild`,
    { job },
  );

/** Starts a rebuild (or finds the running one) for `caller`; a running reconcile is a 409. */
async function startRebuildJob(
  { caller, services }: Pick<RouteContext, "caller" | "services">,
  body: { budget?: z.infer<typeof BudgetSchema>; force: boolean },
) {
  checkBudgetCaller(caller, body.budget);
  const start = await services.rebuilds.start("rebuild", startedBy(caller), body);
  if (start.job.mode !== "rebuild") throw runningReconcile(start.job);
  return start;
}

/**
 * `POST /` — the seed's call: starts a rebuild (or joins the running one) and drives it in this
 * request. `200 {success, count, job}` when it completed within this request's budget (count:
 * the image keys now indexed from the bucket), else `202 {job, statusUrl}` while it continues.
 */
export async function seedRebuild({ request, caller, services }: RouteContext): Promise<Response> {
  const { rebuilds } = services;
  const start = await startRebuildJob({ caller, services }, await parseJsonBody(request, SeedBody));
  const outcome = await rebuilds.drive(start.job);
  assertProgress(outcome);
  if (outcome.state === "finished") {
    const job = outcome.job;
    return json(
      {
        success: true,
        count: job.listed - job.skipped,
        job: jobView(job),
      } satisfies SeedRebuildAnswer,
    );
  }
  const job = outcome.job ?? start.job;
  return acceptedResponse(services, "rebuild", job, { success: true, started: start.started });
}

/**
 * `POST /rebuild` — starts a rebuild and answers at once (`202`); the work goes on in fresh
 * invocations. While one runs, answers with that job and `started: false`.
 */
export async function startRebuild({ request, caller, services }: RouteContext): Promise<Response> {
  const { rebuilds } = services;
  const start = await startRebuildJob(
    { caller, services },
    await parseJsonBody(request, StartBody),
  );
  // Reading the status hands a job without a live worker (this new one, or a stalled one) on.
  const job = (await rebuilds.status(start.job.id)) ?? start.job;
  return acceptedResponse(services, "rebuild", job, {
    started: start.started,
    ...(start.message ? { message: start.message } : {}),
  });
}

/** `GET /rebuild` — the latest job (`{job: null}` when there has been none). */
export async function latestRebuild({ services }: RouteContext): Promise<Response> {
  const job = await services.rebuilds.status();
  return json({ job: job ? jobView(job) : null } satisfies LatestJobAnswer);
}

/**
 * `GET /rebuild/:id` — a job's status and progress. A running job whose lease has expired (its
 * worker died) is handed to a new worker here.
 */
export async function rebuildStatus({ params, services }: RouteContext): Promise<Response> {
  const id = jobIdParam(params);
  const job = await services.rebuilds.status(id);
  if (!job) throw ERRORS.NotFound(`Rebuild ${id} does not exist`);
  return json({ job: jobView(job) } satisfies JobStatusAnswer);
}

/**
 * `POST /rebuild/:id/continue` (service_role) — the worker's self-call: answers `202` at once
 * and runs one slice in the background, then hands the rest on the same way.
 */
export async function continueRebuild(
  { request, params, services }: RouteContext,
): Promise<Response> {
  const jobId = jobIdParam(params);
  const body = await parseJsonBody(request, ContinueBody);
  runInBackground(
    services.rebuilds.continueChain({ jobId, ...body }),
    `Rebuild ${jobId} slice`,
  );
  return json({ accepted: true, job_id: jobId, worker: body.worker } satisfies ContinueAnswer, 202);
}

/** `POST /rebuild/:id/cancel` — stops a running job; the index stays exactly as it was. */
export async function cancelRebuild({ params, services }: RouteContext): Promise<Response> {
  const job = await services.rebuilds.cancel(jobIdParam(params));
  return json({ job: jobView(job) } satisfies JobStatusAnswer);
}
