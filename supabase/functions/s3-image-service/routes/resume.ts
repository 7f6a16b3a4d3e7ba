/**
 * `POST /rebuild/resume` (service_role): the scheduler's call. Every minute pg_cron (through
 * pg_net) on hosted Supabase, or the local stack's scheduler, asks the function to hand a running
 * job whose lease has expired (its worker died, or its chain reached the hop cap) to a fresh
 * worker, so a rebuild finishes with nobody watching.
 *
 * @module
 */
import { json } from "../../_shared/server/responses.ts";
import { jobView } from "../jobs/service.ts";
import type { ServiceRouteContext as RouteContext } from "../handler.ts";
import type { ResumeAnswer } from "../../_shared/contract.ts";

/**
 * Answers `200 {resumed, job}`: `resumed` is true when a stalled job was handed on; `job` is the
 * latest job (null when there has been none). Harmless to call at any rate: a job with a live
 * worker is left alone.
 */
export async function resumeStalled({ request, services }: RouteContext): Promise<Response> {
  await request.body?.cancel().catch(() => {}); // pg_net always sends a body; nothing in it counts
  const { job, resumed } = await services.rebuilds.resume();
  return json({ resumed, job: job ? jobView(job) : null } satisfies ResumeAnswer);
}
