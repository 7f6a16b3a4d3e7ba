/**
 * One bucket change, as every sender shape is read into: the key decoded, the action the index
 * follows, S3's `sequencer` (orders one key's events), the time and what the event tells of the
 * object. `s3_cache_apply_events` takes a batch of them (`toSqlEvent`).
 *
 * @module
 */
import { ERRORS } from "../../_shared/errors.ts";

/** A bucket change the index follows. */
export interface BucketEvent {
  /** The bucket the sender names; events of other buckets are ignored. */
  bucket: string;
  /** The object key, decoded. */
  key: string;
  action: "created" | "removed";
  /** Hex, as the sender gave it; null when it gives none. */
  sequencer: string | null;
  /** When the store processed the request (S3's `eventTime`, EventBridge's `time`). */
  eventTime: string;
  size: number | null;
  /** As the sender gave it (S3 events carry it unquoted; SQL strips quotes if any). */
  etag: string | null;
}

/** What one delivery carries: the events to apply and how many it carried that the index skips. */
export interface Delivery {
  events: BucketEvent[];
  /** Events of a kind the index does not follow (tagging, restore, a test event, …). */
  ignored: number;
}

/** A body no sender shape matches: answered `400 malformed_event` and counted. */
export function malformed(message: string): Error {
  return ERRORS.MalformedEvent(`The event is malformed: ${message}`);
}

/** Most events one delivery may carry (the SQL function's limit). */
export const MAX_EVENTS_PER_DELIVERY = 1000;

/** A sequencer as S3 writes it: hex digits. */
export const SEQUENCER = /^[0-9A-Fa-f]{1,64}$/;

/** The element `s3_cache_apply_events` reads. */
export function toSqlEvent(event: BucketEvent): Record<string, unknown> {
  return {
    key: event.key,
    action: event.action,
    sequencer: event.sequencer,
    event_time: event.eventTime,
    size: event.size,
    etag: event.etag,
  };
}
