/**
 * `POST /events` — live sync: bucket change events from the bucket's own announcer (EventBridge,
 * SNS, MinIO's webhook, the local stack) applied to the index (docs/events.md). Its credential is
 * its own, `EVENTS_SECRET`: the user authenticator never sees this route, and a user token or API
 * key is not enough.
 *
 * Answers: `200 EventsAnswer`; `401 invalid_events_secret`; `400 malformed_event` (not retried by
 * senders, so counted for the stats); `403` for an SNS delivery that does not verify; `503
 * database_unavailable` (the sender retries, and the redelivery is applied once); `503
 * events_disabled` when `EVENTS_SECRET` is unset: a 5xx rather than a 404 so that events sent
 * while an operator is still setting live sync up are retried by the sender instead of dropped.
 *
 * @module
 */
import type { EventsAnswer } from "../../_shared/contract.ts";
import { AppError, ERRORS } from "../../_shared/errors.ts";
import { json } from "../../_shared/server/responses.ts";
import { readDelivery, readEventsBody } from "../events/delivery.ts";
import { presentedSecret, secretMatches } from "../events/events_secret.ts";
import type { LiveSync } from "../events/live_sync.ts";
import { inScope } from "../events/scope.ts";

/** The one path of the route, below the function's name. */
export const EVENTS_PATH = "/events";

/** Answers `POST /events` (any other method: 405). */
export async function receiveEvents(
  request: Request,
  liveSync: () => LiveSync | undefined,
): Promise<Response> {
  if (request.method !== "POST") {
    await request.body?.cancel().catch(() => {});
    throw ERRORS.MethodNotAllowed(`${request.method} is not allowed on ${EVENTS_PATH}; use POST`, {
      allow: ["POST"],
    });
  }
  const sync = liveSync();
  if (!sync?.secret) {
    await request.body?.cancel().catch(() => {});
    throw ERRORS.EventsDisabled(
      "Live sync is off: EVENTS_SECRET is not set for s3-image-service, so events are not accepted yet",
    );
  }
  if (!secretMatches(presentedSecret(request), sync.secret)) {
    await request.body?.cancel().catch(() => {});
    const error = ERRORS.InvalidEventsSecret(
      "Events must carry the events secret: Authorization: Bearer <EVENTS_SECRET> (or, from SNS, " +
        "as the password of the subscription URL); a user token or API key is not it",
    );
    // The challenge lets a sender that waits for one (HTTP Basic auth) send its credentials.
    return json(
      { error: { code: error.code, message: error.message } },
      401,
      { "WWW-Authenticate": 'Basic realm="s3-image-service events", charset="UTF-8"' },
    );
  }
  try {
    const delivery = await readDelivery(await readEventsBody(request), { sns: sync.sns });
    const { events, outOfScope } = inScope(delivery.events, sync.bucket);
    const result = await sync.store.apply(events, delivery.ignored + outOfScope);
    for (const event of result.events) {
      if (event.outcome === "refused") {
        console.warn(`Bucket event for "${event.key}" refused: ${event.reason}`);
      }
    }
    return json(
      {
        applied: result.applied,
        ignored: result.ignored,
        refused: result.refused,
      } satisfies EventsAnswer,
    );
  } catch (error) {
    if (error instanceof AppError && error.code === "malformed_event") {
      console.warn(`Malformed bucket event delivery: ${error.message}`);
      // Best effort: the 400 matters more than the count when the database is away too.
      await sync.store.recordMalformed().catch(() => {});
    }
    throw error;
  }
}
