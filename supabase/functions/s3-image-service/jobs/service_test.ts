import assert from "node:assert/strict";
import type { Continuation, ContinueRequest, HandOff } from "./continuation.ts";
import { createRebuildService, type RebuildDefaults } from "./service.ts";
import { fakeBucket, FakeJobs, keys } from "./testdata/fakes.ts";
import { asHosted } from "./testdata/hosted_process.ts";

function recordingContinuation() {
  const scheduled: ContinueRequest[] = [];
  const continuation: Continuation = {
    schedule: (request) => {
      scheduled.push(request);
      return Promise.resolve<HandOff>("called");
    },
  };
  return { scheduled, continuation };
}

const DEFAULTS: RebuildDefaults = {
  budget: { cpuMs: 1, wallMs: 60_000, pages: 3, keys: 100_000 },
  leaseSeconds: 60,
  // REBUILD_BUDGET_CLOCKS=wall,work: CPU time ignored although plain Deno reports it.
  cpuClock: false,
};

Deno.test("a rebuild's chain counts its hops and every slice keeps the configured work budget", async () => {
  const jobs = FakeJobs.running();
  const { scheduled, continuation } = recordingContinuation();
  const service = createRebuildService({
    jobs,
    storage: fakeBucket(keys(95)),
    continuation,
    defaults: DEFAULTS,
    pageSize: 10,
  });
  let outcome = await service.drive(jobs.job, "chain-1");
  assert.equal(outcome.state, "more");
  while (outcome.state === "more") outcome = await service.continueChain(scheduled.at(-1)!);
  assert.equal(outcome.state, "finished");
  assert.deepEqual(scheduled.map((r) => r.hop), [1, 2, 3]);
  assert.ok(scheduled.every((r) => r.worker === "chain-1" && r.budget.pages === 3));
  assert.deepEqual(jobs.invocations.map((i) => i.pages), [3, 3, 3, 1]);
  for (const invocation of jobs.invocations) {
    assert.deepEqual(invocation.clocks, ["wall", "work"]);
    assert.equal(invocation.cpuMs, null);
  }
});

Deno.test("resume() hands a job whose lease expired to a new worker and leaves a live one alone", async () => {
  const jobs = FakeJobs.running();
  const { scheduled, continuation } = recordingContinuation();
  const service = createRebuildService({
    jobs,
    storage: fakeBucket(keys(5)),
    continuation,
    defaults: DEFAULTS,
  });
  jobs.job.lease_owner = "old-worker";
  jobs.job.lease_expires_at = new Date(Date.now() + 60_000).toISOString();
  assert.deepEqual(await service.resume(), { job: jobs.job, resumed: false });
  assert.equal(scheduled.length, 0);

  jobs.job.lease_expires_at = new Date(Date.now() - 1_000).toISOString();
  const { resumed, job } = await service.resume();
  assert.equal(resumed, true);
  assert.equal(job?.id, jobs.job.id);
  assert.equal(scheduled.length, 1);
  assert.notEqual(scheduled[0].worker, "old-worker");
  assert.equal(scheduled[0].budget.pages, 3);

  jobs.job.status = "succeeded";
  assert.equal((await service.resume()).resumed, false, "a finished job needs nobody");
});

Deno.test("a whole rebuild on the hosted edge runtime never calls process.cpuUsage (each call is a log line there)", async () => {
  const { result: outcome, cpuUsageCalls } = await asHosted(async () => {
    const jobs = FakeJobs.running();
    const { scheduled, continuation } = recordingContinuation();
    // The configured default: CPU time allowed wherever the runtime really reports it.
    const service = createRebuildService({
      jobs,
      storage: fakeBucket(keys(95)),
      continuation,
      defaults: { ...DEFAULTS, cpuClock: true },
      pageSize: 10,
    });
    let outcome = await service.drive(jobs.job, "chain-1");
    while (outcome.state === "more") outcome = await service.continueChain(scheduled.at(-1)!);
    return outcome;
  });
  assert.equal(outcome.state, "finished");
  assert.equal(cpuUsageCalls, 0);
});
