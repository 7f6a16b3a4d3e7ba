/**
 * One delivery to `POST /events`, from its body to the bucket events it carries, whichever sender
 * posted it: S3 notification records (S3, MinIO, the local stack), an EventBridge event, an SNS
 * delivery (verified, subscriptions confirmed), or S3's test event (ignored).
 *
 * @module
 */
import { ERRORS } from "../../_shared/errors.ts";
import { readBodyLimited } from "../../_shared/server/body_limit.ts";
import { type Delivery, malformed } from "./bucket_event.ts";
import { isEventBridgeShape, readEventBridge } from "./eventbridge.ts";
import { readS3Records } from "./s3_records.ts";
import { isSnsShape, readSnsMessage } from "./sns_message.ts";
import type { SnsVerifier } from "./sns_verify.ts";

/**
 * Largest body accepted: an S3 notification is at most 64 KB, an SNS delivery wraps one (escaped,
 * ~1.2×) in at most 256 KB; MinIO posts one record at a time.
 */
export const MAX_EVENTS_BODY_BYTES = 256 * 1024;

/** The parsed JSON body; a body that is not JSON is malformed. */
export async function readEventsBody(request: Request): Promise<unknown> {
  const bytes = await readBodyLimited(request, MAX_EVENTS_BODY_BYTES, {
    tooLarge: () =>
      ERRORS.PayloadTooLarge(`The event body is larger than ${MAX_EVENTS_BODY_BYTES} bytes`, {
        maxBytes: MAX_EVENTS_BODY_BYTES,
      }),
  });
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw malformed("the body is not JSON");
  }
}

/** S3's `s3:TestEvent`, sent once when a notification configuration is saved. */
function isS3TestEvent(body: Record<string, unknown>): boolean {
  return body.Event === "s3:TestEvent";
}

/** Reads an S3 notification body (records or the test event). */
function readS3Body(body: unknown): Delivery {
  if (isObject(body) && isS3TestEvent(body)) return { events: [], ignored: 1 };
  if (isObject(body) && "Records" in body) return readS3Records(body);
  throw malformed('expected S3 event records ({"Records": [...]}) or an S3 test event');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What {@linkcode readDelivery} needs for SNS. */
export interface DeliveryOptions {
  sns: SnsVerifier;
}

/**
 * The events `body` carries. An SNS delivery is verified first; a subscription confirmation is
 * confirmed and an unsubscribe confirmation acknowledged, both carrying no event.
 *
 * @throws 400 `malformed_event` for a body no shape matches; 403 for an SNS delivery that does
 * not verify; 503/502 when SNS's certificate or confirmation URL cannot be reached.
 */
export async function readDelivery(body: unknown, options: DeliveryOptions): Promise<Delivery> {
  if (!isObject(body)) throw malformed("expected a JSON object");
  if (isSnsShape(body)) {
    const message = readSnsMessage(body);
    await options.sns.verify(message);
    if (message.Type === "SubscriptionConfirmation") {
      await options.sns.confirm(message);
      return { events: [], ignored: 0 };
    }
    if (message.Type === "UnsubscribeConfirmation") return { events: [], ignored: 0 };
    let inner: unknown;
    try {
      inner = JSON.parse(message.Message);
    } catch {
      throw malformed("the SNS Message is not JSON");
    }
    return readS3Body(inner);
  }
  if (isEventBridgeShape(body)) return readEventBridge(body);
  return readS3Body(body);
}
