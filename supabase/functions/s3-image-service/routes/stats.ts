/**
 * `GET /stats` — counters for the admin UI: rows, bytes, the newest entry, the last finished
 * job and the running one (`s3_cache_stats()`).
 *
 * @module
 */
import { json } from "../../_shared/server/responses.ts";
import { serviceContext } from "../context.ts";
import type { RouteContext } from "../../_shared/server/router.ts";

/** Answers `GET /stats`. */
export async function stats(_: RouteContext): Promise<Response> {
  return json(await serviceContext().index.stats());
}
