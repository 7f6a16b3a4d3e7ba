/**
 * `POST /events` through the function's handler (CORS, error rendering, the events door before
 * the router) with live sync's database side replaced by a recording double.
 */
import assert from "node:assert/strict";
import { AppError } from "../../_shared/errors.ts";
import { headersFor, type TestCaller } from "../../_shared/auth/testdata/test_callers.ts";
import type { Authenticator } from "../../_shared/auth/authenticate.ts";
import { createServiceHandler } from "../handler.ts";
import type { ServiceContext } from "../services.ts";
import type { BucketEvent } from "../events/bucket_event.ts";
import type { ApplyResult, EventStore } from "../events/event_store.ts";
import type { LiveSync } from "../events/live_sync.ts";
import { createSnsVerifier } from "../events/sns_verify.ts";
import { parseConfig } from "../../_shared/platform/config.ts";
import { createLiveSync } from "../events/live_sync.ts";

const URL_ = "https://ref.supabase.co/functions/v1/s3-image-service/events";
const SECRET = "0123456789abcdef0123456789abcdef";

/** A store that records batches and answers every event as applied (or fails with `failure`). */
class RecordingStore implements EventStore {
  batches: Array<{ events: BucketEvent[]; ignored: number }> = [];
  malformed = 0;
  failure?: Error;
  apply(events: readonly BucketEvent[], ignoredUpstream: number): Promise<ApplyResult> {
    if (this.failure) return Promise.reject(this.failure);
    this.batches.push({ events: [...events], ignored: ignoredUpstream });
    return Promise.resolve({
      applied: events.length,
      ignored: ignoredUpstream,
      refused: 0,
      events: events.map((event) => ({
        key: event.key,
        action: event.action,
        outcome: "applied" as const,
        reason: null,
      })),
    });
  }
  recordMalformed(): Promise<void> {
    this.malformed++;
    return Promise.resolve();
  }
  stats() {
    return Promise.resolve({
      last_applied: null,
      last_hour: { applied: 0, ignored: 0, refused: 0, malformed: this.malformed },
    });
  }
}

/** The function with live sync over `store` (`secret` undefined: off); users are never asked. */
function setup(secret: string | null = SECRET) {
  const store = new RecordingStore();
  const liveSync: LiveSync = {
    secret: secret ?? undefined,
    bucket: "product-images",
    store,
    sns: createSnsVerifier({ fetch: () => Promise.reject(new Error("no network in unit tests")) }),
  };
  let authenticated = 0;
  const handler = createServiceHandler({
    authenticator: () => {
      authenticated++;
      return {} as Authenticator;
    },
    services: () => ({ liveSync } as unknown as ServiceContext),
    healthChecks: () => ({}),
  });
  return { handler, store, authenticated: () => authenticated };
}

function record(key: string, bucket = "product-images") {
  return {
    eventName: "ObjectCreated:Put",
    eventTime: "2026-12-07T09:00:00.000Z",
    s3: { bucket: { name: bucket }, object: { key, size: 1, eTag: "e", sequencer: "01" } },
  };
}

async function post(
  handler: (request: Request) => Response | Promise<Response>,
  body: unknown,
  authorization: string | null = `Bearer ${SECRET}`,
  method = "POST",
) {
  const response = await handler(
    new Request(URL_, {
      method,
      headers: authorization ? { authorization } : {},
      body: method === "GET" ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
  return { status: response.status, headers: response.headers, body: await response.json() };
}

Deno.test("POST /events applies the bucket's events and counts the rest as ignored", async () => {
  const { handler, store, authenticated } = setup();
  const answer = await post(handler, {
    Records: [record("1.jpg"), record("2.jpg", "other-bucket"), record("_incoming/u/x/1/3.jpg")],
  });
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body, { applied: 1, ignored: 2, refused: 0 });
  assert.deepEqual(store.batches.map((batch) => batch.events.map((event) => event.key)), [[
    "1.jpg",
  ]]);
  assert.equal(answer.headers.get("access-control-allow-origin"), "*");
  assert.equal(authenticated(), 0, "the user authenticator never sees an events request");
});

Deno.test("POST /events without the secret is 401 with a Basic challenge, whoever the caller", async () => {
  const { handler, store } = setup();
  const who: TestCaller[] = ["none", "anon", "admin", "service"];
  for (const caller of who) {
    const headers = await headersFor(caller);
    const answer = await post(
      handler,
      { Records: [record("1.jpg")] },
      headers.authorization ?? null,
    );
    assert.equal(answer.status, 401, caller);
    assert.equal(answer.body.error.code, "invalid_events_secret");
    assert.match(answer.headers.get("www-authenticate") ?? "", /^Basic realm=/);
  }
  const wrong = await post(handler, { Records: [] }, `Bearer ${SECRET.slice(0, -1)}x`);
  assert.equal(wrong.status, 401);
  assert.equal(store.batches.length, 0);
  const basic = await post(handler, { Records: [] }, `Basic ${btoa(`sns:${SECRET}`)}`);
  assert.equal(basic.status, 200);
});

Deno.test("POST /events with live sync off is 503 events_disabled (senders retry 5xx)", async () => {
  const { handler } = setup(null);
  const answer = await post(handler, { Records: [] });
  assert.equal(answer.status, 503);
  assert.equal(answer.body.error.code, "events_disabled");
  assert.match(answer.body.error.message, /EVENTS_SECRET/);
});

Deno.test("POST /events: a malformed body is 400 and counted; other methods 405", async () => {
  const { handler, store } = setup();
  const answer = await post(handler, "{not json");
  assert.equal(answer.status, 400);
  assert.equal(answer.body.error.code, "malformed_event");
  assert.equal(store.malformed, 1);
  assert.equal(store.batches.length, 0);
  const get = await post(handler, undefined, `Bearer ${SECRET}`, "GET");
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST, OPTIONS");
});

Deno.test("POST /events: a database outage is 503 database_unavailable, not 500", async () => {
  const { handler, store } = setup();
  store.failure = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const answer = await post(handler, { Records: [record("1.jpg")] });
  assert.equal(answer.status, 503);
  assert.equal(answer.body.error.code, "database_unavailable");
  assert.doesNotMatch(JSON.stringify(answer.body), /ECONNREFUSED/);
  store.failure = new AppError(403, "forbidden", "x");
  assert.equal((await post(handler, { Records: [record("1.jpg")] })).status, 403);
});

Deno.test("createLiveSync() takes the secret, the bucket and the SNS settings from the configuration", () => {
  const config = parseConfig({
    AWS_ACCESS_KEY: "k",
    AWS_SECRET_ACCESS_KEY: "s",
    S3_BUCKET: "product-images",
    SUPABASE_DB_URL: "postgresql://postgres@127.0.0.1:5432/postgres",
    EVENTS_SECRET: SECRET,
  });
  const sync = createLiveSync(config, (() => {}) as never);
  assert.equal(sync.secret, SECRET);
  assert.equal(sync.bucket, "product-images");
});
