import assert from "node:assert/strict";
import { AppError } from "../../_shared/errors.ts";
import { createRebuildService, hasWorkLeft, jobView } from "./service.ts";
import type { JobSummary } from "./job_store.ts";
import { FakeIndex } from "../../_shared/images/testdata/fake_index.ts";
import { FakeJobs, RecordingContinuation } from "./testdata/fakes.ts";
import { FakeStorage } from "../../_shared/platform/testdata/fake_storage.ts";
import { sqlError } from "../../_shared/platform/testdata/sql_error.ts";

const DEFAULTS = { budget: { cpuMs: 1000, wallMs: 60_000 }, leaseSeconds: 60 };

function serviceOver(jobs: FakeJobs) {
  const continuation = new RecordingContinuation();
  const service = createRebuildService({
    jobs,
    storage: new FakeStorage(),
    continuation,
    defaults: DEFAULTS,
  });
  return { service, continuation };
}

/** A worker stages the listing's last page at the moment apply marks the job. */
class LastPageRace extends FakeJobs {
  /** Whether the racing worker's own finish wins (then apply's finish is refused). */
  workerFinishesFirst = false;
  override async annotate(jobId: number, patch: JobSummary) {
    await super.annotate(jobId, patch);
    if (patch.apply) {
      this.jobs.get(jobId)!.listing_complete = true;
      if (this.workerFinishesFirst) await super.finish(jobId);
    }
  }
}

Deno.test("apply() finishes a reconcile whose last page was staged just as it was marked", async () => {
  const jobs = new LastPageRace(new FakeIndex());
  const job = jobs.add({ mode: "reconcile", continuation_token: "t" });
  jobs.staged.get(job.id)!.set("1.jpg", { size: 1, etag: "e" });
  const { service, continuation } = serviceOver(jobs);
  const result = await service.apply(job.id);
  assert.equal(result.applied, true);
  assert.equal(result.job.status, "succeeded");
  assert.ok(jobs.index.rows.has("1.jpg"), "nobody else would have applied it");
  assert.equal(continuation.scheduled.length, 0);
});

Deno.test("apply() answers the job the worker finished first when both race to finish", async () => {
  const jobs = new LastPageRace(new FakeIndex());
  jobs.workerFinishesFirst = true;
  const job = jobs.add({ mode: "reconcile", continuation_token: "t" });
  const { service } = serviceOver(jobs);
  const result = await service.apply(job.id);
  assert.equal(result.applied, true);
  assert.equal(result.job.status, "succeeded");
});

Deno.test("apply() passes on a finish error while the job still runs", async () => {
  class BrokenFinish extends LastPageRace {
    override finish(): never {
      throw sqlError("XX000", "internal error");
    }
  }
  const jobs = new BrokenFinish(new FakeIndex());
  const job = jobs.add({ mode: "reconcile", continuation_token: "t" });
  await assert.rejects(serviceOver(jobs).service.apply(job.id), /internal error/);
});

Deno.test("apply() with force marks the job forced before it finishes", async () => {
  const index = new FakeIndex();
  await index.add("1.jpg");
  await index.add("2.jpg");
  const jobs = new FakeJobs(index);
  const job = jobs.add({ mode: "reconcile", listing_complete: true });
  const result = await serviceOver(jobs).service.apply(job.id, { force: true });
  assert.equal(result.applied, true);
  assert.equal(index.rows.size, 0, "the forced removal of every row was applied");
});

Deno.test("preview() of a rebuild is a 409: a rebuild has no dry run", async () => {
  const jobs = new FakeJobs(new FakeIndex());
  const job = jobs.add({ mode: "rebuild" });
  await assert.rejects(
    serviceOver(jobs).service.preview(job, 10),
    (error: AppError) => error.status === 409 && /has no dry run/.test(error.message),
  );
});

Deno.test("start() records the smaller budget and a reconcile's apply flag on the job", async () => {
  const jobs = new FakeJobs(new FakeIndex());
  const { service } = serviceOver(jobs);
  const { job } = await service.start("reconcile", "a", { apply: true, budget: { cpuMs: 50 } });
  assert.deepEqual(jobs.jobs.get(job.id)!.summary, {
    budget: { cpu_ms: 50, wall_ms: 60_000 },
    apply: true,
  });
  assert.equal(hasWorkLeft(job), true);
});

Deno.test("jobView() counts a running job's duration to now and an ended one's to its end", () => {
  const jobs = new FakeJobs(new FakeIndex());
  const running = jobs.add({ started_at: "2026-01-01T00:00:00Z" });
  assert.equal(jobView(running, new Date("2026-01-01T00:00:05Z")).duration_ms, 5000);
  const ended = { ...running, finished_at: "2026-01-01T00:00:02Z" };
  assert.equal(jobView(ended, new Date("2026-01-01T01:00:00Z")).duration_ms, 2000);
});
