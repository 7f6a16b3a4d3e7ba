import assert from "node:assert/strict";
import { once } from "./once.ts";

Deno.test("once() builds on first use and returns the same value after", () => {
  let builds = 0;
  const value = once(() => ({ n: ++builds }));
  assert.equal(builds, 0, "nothing is built before it is asked for");
  assert.equal(value(), value());
  assert.equal(builds, 1);
});

Deno.test("once() keeps a failed build's error instead of building again", () => {
  let builds = 0;
  const value = once((): number => {
    builds++;
    throw new Error("S3_BUCKET is not set");
  });
  assert.throws(value, /S3_BUCKET is not set/);
  assert.throws(value, /S3_BUCKET is not set/);
  assert.equal(builds, 1);
});
