import assert from "node:assert/strict";
import type { Sql } from "../../_shared/platform/db.ts";
import { createEventStore } from "./event_store.ts";
import type { BucketEvent } from "./bucket_event.ts";

/** A postgres.js stand-in answering each statement with the next scripted reply (an error is thrown). */
function scriptedSql(...replies: unknown[]) {
  const calls: Array<{ text: string; values: unknown[] }> = [];
  const sql = (strings: TemplateStringsArray, ...values: unknown[]) => {
    calls.push({ text: strings.join("$"), values });
    const reply = replies.shift();
    return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
  };
  (sql as unknown as { json: (value: unknown) => unknown }).json = (value) => ({ json: value });
  return { sql: sql as unknown as Sql, calls };
}

const event: BucketEvent = {
  bucket: "b",
  key: "1.jpg",
  action: "created",
  sequencer: "0A",
  eventTime: "2026-12-07T09:00:00.000Z",
  size: 5,
  etag: "e",
};

Deno.test("EventStore.apply() sends the batch in the SQL function's shape and the upstream count", async () => {
  const result = { applied: 1, ignored: 2, refused: 0, events: [] };
  const { sql, calls } = scriptedSql([{ result }]);
  assert.deepEqual(await createEventStore(sql).apply([event], 2), result);
  assert.match(calls[0].text, /public\.s3_cache_apply_events\(/);
  assert.deepEqual(calls[0].values, [
    {
      json: [{
        key: "1.jpg",
        action: "created",
        sequencer: "0A",
        event_time: "2026-12-07T09:00:00.000Z",
        size: 5,
        etag: "e",
      }],
    },
    2,
  ]);
});

Deno.test("EventStore retries a dropped connection; other errors go to the caller", async () => {
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  const { sql, calls } = scriptedSql(reset, [{ stats: { last_applied: null } }]);
  assert.deepEqual(await createEventStore(sql).stats(), { last_applied: null });
  assert.equal(calls.length, 2);

  const invalid = Object.assign(new Error("Cannot apply event 1"), { code: "22023" });
  const failing = scriptedSql(invalid);
  await assert.rejects(createEventStore(failing.sql).apply([event], 0), /Cannot apply event 1/);
  assert.equal(failing.calls.length, 1);
});

Deno.test("EventStore.recordMalformed() counts through s3_cache_record_malformed_event", async () => {
  const { sql, calls } = scriptedSql([{}]);
  await createEventStore(sql).recordMalformed();
  assert.match(calls[0].text, /public\.s3_cache_record_malformed_event\(\)/);
});
