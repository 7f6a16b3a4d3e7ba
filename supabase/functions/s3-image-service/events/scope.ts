/**
 * Which events concern the index: those of the configured bucket, outside the direct-upload
 * staging prefix. Names the rules refuse (a key with `/`, `.txt`, …) are not decided here: the
 * SQL function refuses them with the same rules the rebuild applies, and counts them.
 *
 * @module
 */
import type { BucketEvent } from "./bucket_event.ts";

/**
 * Where direct uploads stage their bytes before they are checked and published
 * (upload-to-s3's direct upload); a staging key never names an image of the index.
 */
export const STAGING_PREFIX = "_incoming/";

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
