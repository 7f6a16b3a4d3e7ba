/**
 * Which events concern the index: those of the configured bucket, outside the direct-upload
 * staging prefix. Names the rules refuse (a key with `/`, `.txt`, …) are not decided here: the
 * SQL function refuses them with the same rules the rebuild applies, and counts them.
 *
 * @module
 */
import { STAGING_PREFIX } from "../../_shared/images/names.ts";
import type { BucketEvent } from "./bucket_event.ts";

/** The events for the index, and how many were left out (another bucket, a staging key). */
export function inScope(
  events: readonly BucketEvent[],
  bucket: string,
): { events: BucketEvent[]; outOfScope: number } {
  const kept = events.filter((event) =>
    event.bucket === bucket && !event.key.startsWith(STAGING_PREFIX)
  );
  return { events: kept, outOfScope: events.length - kept.length };
}
