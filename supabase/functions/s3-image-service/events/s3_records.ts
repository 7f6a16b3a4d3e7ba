/**
 * S3 notification records (`{"Records": [...]}`), as Amazon S3 sends them to SNS, SQS and Lambda,
 * and as MinIO's webhook target and the local stack post them. Facts relied on (AWS, "Event
 * message structure", docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html):
 * the key is URL-encoded with `+` for a space ("red flower.jpg" becomes "red+flower.jpg"), the
 * eTag comes unquoted, `sequencer` is hex and only set for PUTs and DELETEs, `eventTime` is ISO
 * 8601. MinIO writes the same fields with an `s3:` prefix on `eventName`
 * (`s3:ObjectCreated:Put`) and its `sequencer` in hex nanoseconds.
 *
 * @module
 */
import { z } from "zod";
import {
  type BucketEvent,
  type Delivery,
  malformed,
  MAX_EVENTS_PER_DELIVERY,
  SEQUENCER,
} from "./bucket_event.ts";

const IsoTime = z.string().refine((value) => !Number.isNaN(Date.parse(value)), {
  message: "expected an ISO 8601 time",
});

const RecordSchema = z.object({
  eventName: z.string().min(1),
  eventTime: IsoTime,
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().int().nonnegative().nullish(),
      eTag: z.string().nullish(),
      sequencer: z.string().regex(SEQUENCER, "expected hexadecimal digits").nullish(),
    }),
  }),
});

/** The body S3 and MinIO send. */
export const S3RecordsSchema = z.object({
  Records: z.array(z.unknown()).max(MAX_EVENTS_PER_DELIVERY),
});

/**
 * The action a record's `eventName` means for the index: object created (Put, Post, Copy,
 * CompleteMultipartUpload) or removed (Delete, DeleteMarkerCreated: the key is gone either way);
 * undefined for kinds the index does not follow (tagging, restore, lifecycle transitions, …).
 */
export function actionOf(eventName: string): BucketEvent["action"] | undefined {
  const name = eventName.startsWith("s3:") ? eventName.slice(3) : eventName;
  if (name.startsWith("ObjectCreated:")) return "created";
  if (name.startsWith("ObjectRemoved:")) return "removed";
  return undefined;
}

/**
 * Decodes a notification's key: `+` is a space, `%XX` an escaped byte of UTF-8.
 *
 * @throws a malformed-event error for an escape that decodes to no text.
 */
export function decodeRecordKey(key: string): string {
  try {
    return decodeURIComponent(key.replaceAll("+", "%20"));
  } catch {
    throw malformed(`the object key "${key}" is not URL-encoded text`);
  }
}

function issueText(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`)
    .join("; ");
}

/**
 * Reads `{"Records": [...]}` into bucket events; records of kinds the index does not follow are
 * counted as ignored, checked only for an `eventName`.
 *
 * @throws a malformed-event error naming the first bad record and field.
 *
 * @example
 * ```ts
 * const { events } = readS3Records({ Records: [record] });
 * ```
 */
export function readS3Records(body: unknown): Delivery {
  const envelope = S3RecordsSchema.safeParse(body);
  if (!envelope.success) throw malformed(issueText(envelope.error));
  const events: BucketEvent[] = [];
  let ignored = 0;
  envelope.data.Records.forEach((raw, index) => {
    const name = z.object({ eventName: z.string().min(1) }).safeParse(raw);
    if (!name.success) throw malformed(`Records.${index}.eventName: expected a string`);
    const action = actionOf(name.data.eventName);
    if (!action) {
      ignored++;
      return;
    }
    const record = RecordSchema.safeParse(raw);
    if (!record.success) throw malformed(`Records.${index}: ${issueText(record.error)}`);
    const { eventTime, s3 } = record.data;
    events.push({
      bucket: s3.bucket.name,
      key: decodeRecordKey(s3.object.key),
      action,
      sequencer: s3.object.sequencer ?? null,
      eventTime: new Date(eventTime).toISOString(),
      size: action === "created" ? s3.object.size ?? null : null,
      etag: action === "created" ? s3.object.eTag || null : null,
    });
  });
  return { events, ignored };
}
