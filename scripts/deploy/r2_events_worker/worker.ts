/**
 * Cloudflare R2 → live sync: a Queue consumer Worker. R2 sends its event notifications to a
 * Cloudflare Queue, never to a URL (developers.cloudflare.com/r2/buckets/event-notifications/);
 * this Worker takes each batch off the queue and posts it to the events endpoint as S3
 * notification records, with `Authorization: Bearer <EVENTS_SECRET>`. docs/events.md says why a
 * consumer Worker rather than a scheduled pull, and how to deploy it (wrangler.toml beside this).
 *
 * Retries are the queue's: a 5xx, a 429 or no answer retries the whole batch later (growing
 * delays); after `max_retries` the queue moves messages to its dead-letter queue. A batch the
 * endpoint refuses (4xx) is sent again one message at a time, so one bad message cannot hold the
 * others back; a message refused on its own is retried too, so it ends in the dead-letter queue
 * rather than vanishing, and is logged.
 *
 * @module
 */
import { encodeEventKey } from "../../stack/s3_event_record.mjs";

/** The body of one R2 event notification message (Cloudflare's documented message format). */
export interface R2Notification {
  account: string;
  /** `PutObject`, `CopyObject`, `CompleteMultipartUpload`, `DeleteObject`, `LifecycleDeletion`. */
  action: string;
  bucket: string;
  object: { key: string; size?: number; eTag?: string };
  eventTime: string;
  copySource?: { bucket: string; object: string };
}

/** The parts of a Cloudflare Queues message this Worker uses. */
export interface QueueMessage<Body> {
  readonly id: string;
  readonly body: Body;
  readonly attempts: number;
  ack(): void;
  retry(options?: { delaySeconds?: number }): void;
}

/** The parts of a Cloudflare Queues batch this Worker uses. */
export interface QueueBatch<Body> {
  readonly messages: readonly QueueMessage<Body>[];
  ackAll(): void;
  retryAll(options?: { delaySeconds?: number }): void;
}

/** The Worker's bindings: `EVENTS_URL` (a var) and `EVENTS_SECRET` (`wrangler secret put`). */
export interface Env {
  EVENTS_URL: string;
  EVENTS_SECRET: string;
}

/** S3's event names for R2's actions; any other action is passed on and the endpoint ignores it. */
const EVENT_NAMES: Record<string, string> = {
  PutObject: "ObjectCreated:Put",
  CopyObject: "ObjectCreated:Copy",
  CompleteMultipartUpload: "ObjectCreated:CompleteMultipartUpload",
  DeleteObject: "ObjectRemoved:Delete",
  LifecycleDeletion: "ObjectRemoved:Delete",
};

/**
 * One R2 notification as an S3 notification record. R2 gives no `sequencer`, so none is sent:
 * the endpoint then orders a key's events by `eventTime` (milliseconds).
 */
export function toS3Record(notification: R2Notification): Record<string, unknown> {
  const eventName = EVENT_NAMES[notification.action] ?? `R2:${notification.action}`;
  const object: Record<string, unknown> = { key: encodeEventKey(notification.object.key) };
  if (eventName.startsWith("ObjectCreated:")) {
    object.size = notification.object.size ?? 0;
    if (notification.object.eTag) object.eTag = notification.object.eTag;
  }
  return {
    eventVersion: "2.1",
    eventSource: "cloudflare:r2",
    awsRegion: "auto",
    eventTime: notification.eventTime,
    eventName,
    s3: { s3SchemaVersion: "1.0", bucket: { name: notification.bucket }, object },
  };
}

/** Seconds before the queue offers a message again: 2, 4, 8, … up to 5 minutes. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(300, 2 ** Math.max(1, attempts));
}

type Outcome = "delivered" | "retry" | "refused";

async function post(env: Env, records: Record<string, unknown>[]): Promise<Outcome> {
  try {
    const response = await fetch(env.EVENTS_URL, {
      method: "POST",
      headers: { authorization: `Bearer ${env.EVENTS_SECRET}`, "content-type": "application/json" },
      body: JSON.stringify({ Records: records }),
    });
    const text = await response.text();
    if (response.ok) return "delivered";
    if (response.status === 429 || response.status >= 500) return "retry";
    console.error(
      `events endpoint refused ${records.length} record(s): ${response.status} ${text}`,
    );
    return "refused";
  } catch (error) {
    console.error(`events endpoint unreachable: ${error}`);
    return "retry";
  }
}

export default {
  /** Posts one queue batch; see the module comment for what happens on each answer. */
  async queue(batch: QueueBatch<R2Notification>, env: Env): Promise<void> {
    const attempts = Math.max(...batch.messages.map((message) => message.attempts));
    const outcome = await post(env, batch.messages.map((message) => toS3Record(message.body)));
    if (outcome === "delivered") return batch.ackAll();
    if (outcome === "retry") return batch.retryAll({ delaySeconds: retryDelaySeconds(attempts) });
    for (const message of batch.messages) {
      const alone = await post(env, [toS3Record(message.body)]);
      if (alone === "delivered") message.ack();
      else message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  },
};
