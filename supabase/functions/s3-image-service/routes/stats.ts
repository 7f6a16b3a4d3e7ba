/**
 * `GET /stats` — counters for the admin UI: rows, bytes, the newest entry, the last finished
 * job and the running one (`s3_cache_stats()`).
 *
 * @module
 */
import { json } from "../../_shared/server/responses.ts";
import type { ServiceRouteContext as RouteContext } from "../handler.ts";

/** Answers `GET /stats`. */
export async function stats({ services }: RouteContext): Promise<Response> {
  return json(await services.index.stats());
}
