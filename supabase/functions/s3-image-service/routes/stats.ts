/**
 * `GET /stats` — counters for the admin UI: rows, bytes, the newest entry, the last finished
 * job and the running one (`s3_cache_stats()`), and live sync (`s3_cache_live_sync_stats()`,
 * plus whether `EVENTS_SECRET` turns it on).
 *
 * @module
 */
import type { LiveSyncStats } from "../../_shared/contract.ts";
import { json } from "../../_shared/server/responses.ts";
import type { ServiceRouteContext as RouteContext } from "../handler.ts";

/** What `live_sync` says where no live sync is wired (unit tests over fakes). */
const NO_LIVE_SYNC: Omit<LiveSyncStats, "enabled"> = {
  last_applied: null,
  last_hour: { applied: 0, ignored: 0, refused: 0, malformed: 0 },
};

/** Answers `GET /stats`. */
export async function stats({ services }: RouteContext): Promise<Response> {
  const { liveSync } = services;
  const [index, events] = await Promise.all([
    services.index.stats(),
    liveSync ? liveSync.store.stats() : NO_LIVE_SYNC,
  ]);
  const live_sync: LiveSyncStats = { enabled: Boolean(liveSync?.secret), ...events };
  return json({ ...index, live_sync });
}
