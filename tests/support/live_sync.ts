/**
 * Live sync in the integration tier: the stack's S3 emulator posts bucket events to the events
 * endpoint for keys under {@linkcode LIVE_SYNC_PREFIX} only, like a bucket notification with a
 * prefix filter. Every other integration test puts objects behind the index's back on purpose
 * (drift, guards, rebuilds), which events would quietly repair.
 *
 * @module
 */

/** Keys the integration stack's emulator announces (scripts/test.ts passes it to the stack). */
export const LIVE_SYNC_PREFIX = "livesync-";
