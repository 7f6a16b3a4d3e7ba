import assert from "node:assert/strict";
import { StreamLimit } from "./stream_limit.ts";

Deno.test("StreamLimit halves on a throttled request and creeps back by one per clean round", async () => {
  const limit = new StreamLimit(8);
  await limit.acquire();
  limit.release(true);
  assert.equal(limit.limit, 4);
  await limit.acquire();
  limit.release(true);
  assert.equal(limit.limit, 2);
  for (let i = 0; i < 2; i++) {
    await limit.acquire();
    limit.release(false);
  }
  assert.equal(limit.limit, 3);
  for (let i = 0; i < 100; i++) {
    await limit.acquire();
    limit.release(false);
  }
  assert.equal(limit.limit, 8, "never above the configured streams");
  for (let i = 0; i < 10; i++) {
    await limit.acquire();
    limit.release(true);
  }
  assert.equal(limit.limit, 1, "never below one");
});

Deno.test("StreamLimit keeps at most `limit` requests in flight", async () => {
  const limit = new StreamLimit(2);
  let inFlight = 0;
  let most = 0;
  await Promise.all(Array.from({ length: 6 }, async () => {
    await limit.acquire();
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 1));
    inFlight--;
    limit.release(false);
  }));
  assert.equal(most, 2);
});
