import assert from "node:assert/strict";
import { withRetry } from "./retry.ts";

const noSleep = () => Promise.resolve();

Deno.test("withRetry() retries a transient failure and returns the eventual result", async () => {
  let calls = 0;
  const result = await withRetry(() => {
    calls++;
    return calls < 3 ? Promise.reject(new Error("reset")) : Promise.resolve("ok");
  }, { sleep: noSleep });
  assert.equal(result, "ok");
  assert.equal(calls, 3);
});

Deno.test("withRetry() stops at once on a non-retryable error", async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(() => {
      calls++;
      return Promise.reject(new Error("bad request"));
    }, { retryable: () => false, sleep: noSleep }),
    /bad request/,
  );
  assert.equal(calls, 1);
});

Deno.test("withRetry() gives up after the configured attempts with backoff under the ceiling", async () => {
  const waits: number[] = [];
  await assert.rejects(
    withRetry(() => Promise.reject(new Error("down")), {
      attempts: 4,
      baseMs: 100,
      maxMs: 250,
      sleep: (ms) => (waits.push(ms), Promise.resolve()),
    }),
    /down/,
  );
  assert.equal(waits.length, 3);
  for (const [i, ms] of waits.entries()) assert.ok(ms <= Math.min(250, 100 * 2 ** i));
});
