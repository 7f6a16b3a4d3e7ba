import assert from "node:assert/strict";
import { isSettled, jobProgress, type ProgressFields, rangesProgress } from "./job_progress.ts";
import type { JobStatus } from "./types.ts";

function job(patch: Partial<ProgressFields>): ProgressFields {
  return {
    status: "running",
    started_at: "2026-12-02T10:00:00.000Z",
    duration_ms: 10_000,
    listed: 2000,
    listing_complete: false,
    ...patch,
  };
}

Deno.test("jobProgress() estimates against the index size and the rate so far", () => {
  const progress = jobProgress(job({}), 8000);
  assert.equal(progress.keysPerSecond, 200);
  assert.equal(progress.fraction, 0.25);
  assert.equal(progress.remainingMs, 30_000);
  assert.equal(progress.elapsedMs, 10_000);
});

Deno.test("jobProgress() never shows a running listing as done, even past the estimate", () => {
  const progress = jobProgress(job({ listed: 9000 }), 8000);
  assert.equal(progress.fraction, 0.99);
  assert.equal(progress.remainingMs, 0);
});

Deno.test("jobProgress() is indeterminate with nothing to estimate against", () => {
  const progress = jobProgress(job({}), 0);
  assert.equal(progress.fraction, null);
  assert.equal(progress.remainingMs, null);
});

Deno.test("jobProgress() is full once the job finished or the listing completed", () => {
  assert.equal(jobProgress(job({ status: "succeeded" }), 8000).fraction, 1);
  assert.equal(jobProgress(job({ listing_complete: true }), 8000).fraction, 1);
});

Deno.test("jobProgress() counts elapsed time from started_at when the row has no duration", () => {
  const now = Date.parse("2026-12-02T10:00:04.000Z");
  const progress = jobProgress(job({ duration_ms: undefined, listed: 400 }), 1000, now);
  assert.equal(progress.elapsedMs, 4000);
  assert.equal(progress.keysPerSecond, 100);
});

Deno.test("isSettled() is true for every status but running", () => {
  assert.equal(isSettled(job({})), false);
  for (const status of ["succeeded", "failed", "cancelled", "needs_confirmation"] as JobStatus[]) {
    assert.equal(isSettled(job({ status })), true);
  }
});

Deno.test("rangesProgress() says how many key ranges are listed, and nothing for one stream", () => {
  assert.equal(rangesProgress({ ranges: { total: 8, done: 3 } }), "3 of 8");
  assert.equal(rangesProgress({ ranges: null }), null);
  assert.equal(rangesProgress({}), null);
});
