/**
 * Amazon S3 events delivered by EventBridge (an API destination posts the whole event, one per
 * request). Facts relied on (AWS, "EventBridge event message structure",
 * docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html): `source` is `aws.s3`,
 * `detail-type` names the event (`Object Created`, `Object Deleted`, `Object Restore Completed`,
 * …), `time` is when it happened (whole seconds), `detail.bucket.name`, and `detail.object` holds
 * `key` (not URL-encoded, unlike notification records), `size` and `etag` for creations, and
 * `sequencer`.
 *
 * @module
 */
import { z } from "zod";
import { type Delivery, malformed, SEQUENCER } from "./bucket_event.ts";

const EventBridgeSchema = z.object({
  "detail-type": z.string().min(1),
  source: z.string().min(1),
  time: z.string().refine((value) => !Number.isNaN(Date.parse(value)), {
    message: "expected an ISO 8601 time",
  }),
  detail: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().int().nonnegative().nullish(),
      etag: z.string().nullish(),
      sequencer: z.string().regex(SEQUENCER, "expected hexadecimal digits").nullish(),
    }),
  }),
});

const ACTIONS: Readonly<Record<string, "created" | "removed">> = {
  "Object Created": "created",
  "Object Deleted": "removed",
};

/** Whether `body` looks like an EventBridge event (what {@linkcode readEventBridge} reads). */
export function isEventBridgeShape(body: Record<string, unknown>): boolean {
  return "detail-type" in body && "detail" in body;
}

/**
 * Reads one EventBridge event; other S3 event types, and events of other sources, are one
 * ignored event.
 *
 * @throws a malformed-event error naming the bad field.
 */
export function readEventBridge(body: unknown): Delivery {
  const head = z.object({ "detail-type": z.string(), source: z.string() }).safeParse(body);
  if (!head.success) throw malformed(`expected an EventBridge event with detail-type and source`);
  const action = ACTIONS[head.data["detail-type"]];
  if (head.data.source !== "aws.s3" || !action) return { events: [], ignored: 1 };
  const parsed = EventBridgeSchema.safeParse(body);
  if (!parsed.success) {
    throw malformed(
      parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "),
    );
  }
  const { time, detail } = parsed.data;
  return {
    events: [{
      bucket: detail.bucket.name,
      key: detail.object.key,
      action,
      sequencer: detail.object.sequencer ?? null,
      eventTime: new Date(time).toISOString(),
      size: action === "created" ? detail.object.size ?? null : null,
      etag: action === "created" ? detail.object.etag || null : null,
    }],
    ignored: 0,
  };
}
