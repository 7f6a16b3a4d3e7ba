import assert from "node:assert/strict";
import { ApiError } from "./api.ts";
import { pollJob } from "./job_poller.ts";
import type { Job, JobAnswer, JobStatus } from "./types.ts";

const BASE = "https://project.example/functions/v1/s3-image-service";

function answer(status: JobStatus, statusUrl?: string): JobAnswer {
  return { job: { id: 7, status } as Job, ...(statusUrl ? { statusUrl } : {}) };
}

/** Waits until `done()` holds (or fails the test after a second). */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 1_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets a few polling intervals pass, to show nothing more happens. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** A poller over scripted answers (an Error in the script is thrown); records every URL asked. */
function scripted(script: Array<JobAnswer | Error>, statusUrl = `${BASE}/rebuild/7`) {
  const asked: string[] = [];
  const answers: JobAnswer[] = [];
  const errors: unknown[] = [];
  const stop = pollJob({
    statusUrl,
    intervalMs: 1,
    ask: (url) => {
      asked.push(url);
      const next = script.shift() ?? answer("running");
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
    isFinal: (a) => a.job.status !== "running",
    onAnswer: (a) => answers.push(a),
    onError: (error) => errors.push(error),
  });
  return { asked, answers, errors, stop };
}

Deno.test("pollJob() asks the statusUrl the server handed out, and the next one an answer names", async () => {
  const moved = `${BASE}/reconcile/7`;
  const poll = scripted([answer("running", moved), answer("running"), answer("succeeded")]);
  await until(() => poll.answers.length === 3, "three answers");
  assert.deepEqual(poll.asked, [`${BASE}/rebuild/7`, moved, moved]);
  poll.stop();
});

Deno.test("pollJob() stops at a final answer and reports it", async () => {
  const poll = scripted([answer("running"), answer("needs_confirmation"), answer("running")]);
  await until(() => poll.answers.length === 2, "two answers");
  await settle();
  assert.equal(poll.asked.length, 2, "nothing asked after the final answer");
  assert.equal(poll.answers.at(-1)?.job.status, "needs_confirmation");
  poll.stop();
});

Deno.test("pollJob() reports a failed request and keeps asking after a network error or a 5xx", async () => {
  const offline = new ApiError(0, "network_error", "The server could not be reached");
  const busy = new ApiError(503, "database_unavailable", "The image index is unavailable");
  const poll = scripted([offline, busy, answer("succeeded")]);
  await until(() => poll.answers.length === 1, "the answer after the errors");
  assert.deepEqual(poll.errors, [offline, busy]);
  assert.equal(poll.asked.length, 3);
  poll.stop();
});

Deno.test("pollJob() stops after an error asking again cannot fix (404), but not after a 401", async () => {
  const gone = new ApiError(404, "not_found", "Rebuild 7 does not exist");
  const poll = scripted([gone, answer("running")]);
  await until(() => poll.errors.length === 1, "the 404");
  await settle();
  assert.equal(poll.asked.length, 1);
  assert.deepEqual(poll.answers, []);
  poll.stop();

  const signedOut = new ApiError(401, "token_expired", "Your session expired");
  const retried = scripted([signedOut, answer("succeeded")]);
  await until(() => retried.answers.length === 1, "the answer after the 401");
  retried.stop();
});

Deno.test("pollJob() stop() ends polling: no further request, and an answer in flight is dropped", async () => {
  const asked: string[] = [];
  const answers: JobAnswer[] = [];
  let reply: (a: JobAnswer) => void = () => {};
  const stop = pollJob({
    statusUrl: `${BASE}/rebuild/7`,
    intervalMs: 1,
    ask: (url) => {
      asked.push(url);
      return new Promise<JobAnswer>((resolve) => reply = resolve);
    },
    isFinal: () => false,
    onAnswer: (a) => answers.push(a),
    onError: () => assert.fail("no error expected"),
  });
  await until(() => asked.length === 1, "the first request");
  stop(); // what a screen does when it closes
  reply(answer("running"));
  await settle();
  assert.deepEqual(answers, [], "the answer that came after stop() is not shown");
  assert.equal(asked.length, 1, "nothing asked after stop()");

  const before = scripted([]);
  before.stop();
  await settle();
  assert.deepEqual(before.asked, [], "stopped before the first pause ended: nothing asked");
});
