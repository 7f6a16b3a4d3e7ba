/**
 * Test fakes for the rebuild engine: the SQL rebuild primitives in memory and a bucket listed
 * page by page. Shared by the slice and service tests.
 *
 * @module
 */
import type {
  InvocationCost,
  JobSummary,
  RebuildJob,
  RebuildJobs,
  StagedPage,
} from "../job_store.ts";
import type { ListPage } from "../../../_shared/platform/storage.ts";

export const sqlError = (code: string, message = code) =>
  Object.assign(new Error(message), { code });

/**
 * The SQL rebuild primitives in memory, with the rules that matter to a worker: leases, the
 * compare-and-set on the continuation token, one finish.
 */
export class FakeJobs implements RebuildJobs {
  job: RebuildJob;
  staged = new Map<string, number>();
  /** Listed keys the rules refuse; like the SQL API, finish counts them as skipped. */
  refused = new Set<string>();
  invocations: InvocationCost[] = [];
  calls: string[] = [];
  /** Makes the next calls of a method fail; `commit` lets the call take effect first. */
  faults: Array<{ method: string; error: unknown; times: number; commit?: boolean }> = [];

  constructor(mode: "rebuild" | "reconcile" = "rebuild", summary: JobSummary | null = null) {
    this.job = {
      id: 1,
      mode,
      status: "running",
      started_by: "test",
      started_at: new Date().toISOString(),
      finished_at: null,
      continuation_token: null,
      listing_complete: false,
      pages: 0,
      listed: 0,
      skipped: 0,
      inserted: 0,
      updated: 0,
      removed: 0,
      error: null,
      force: false,
      lease_owner: null,
      lease_expires_at: null,
      lease_seconds: 60,
      invocations: [],
      summary,
    };
  }

  async #call<T>(method: string, body: () => T): Promise<T> {
    this.calls.push(method);
    await Promise.resolve();
    const fault = this.faults.find((f) => f.method === method && f.times > 0);
    if (fault) {
      fault.times--;
      if (fault.commit) body();
      throw fault.error;
    }
    return body();
  }

  start(): never {
    throw new Error("not used");
  }

  force(): never {
    throw new Error("not used");
  }

  claim(_: number, worker: string) {
    return this.#call("claim", () => {
      const j = this.job;
      const free = !j.lease_owner || j.lease_owner === worker ||
        new Date(j.lease_expires_at!).getTime() <= Date.now();
      if (j.status !== "running" || !free) return null;
      j.lease_owner = worker;
      j.lease_expires_at = new Date(Date.now() + 60_000).toISOString();
      return structuredClone(j);
    });
  }

  stagePage(_: number, worker: string, page: StagedPage) {
    return this.#call("stagePage", () => {
      const j = this.job;
      if (j.status !== "running") throw sqlError("55000", "not running");
      if (j.lease_owner !== worker) throw sqlError("40001", "lease");
      if (j.listing_complete || j.continuation_token !== page.previousToken) {
        throw sqlError("40001", "token");
      }
      for (const object of page.objects) {
        if (/^[\w-]+\.jpg$/.test(object.key)) this.staged.set(object.key, object.size);
        else this.refused.add(object.key);
      }
      j.continuation_token = page.nextToken;
      j.listing_complete = page.nextToken === null;
      j.pages++;
      j.listed += page.objects.length;
      return structuredClone(j);
    });
  }

  recordInvocation(_: number, cost: InvocationCost) {
    return this.#call("recordInvocation", () => void this.invocations.push(cost));
  }

  preview(): never {
    throw new Error("not used");
  }

  finish() {
    return this.#call("finish", () => {
      if (this.job.status !== "running") throw sqlError("55000", "not running");
      Object.assign(this.job, {
        status: "succeeded",
        inserted: this.staged.size,
        skipped: this.refused.size,
      });
      return structuredClone(this.job);
    });
  }

  fail(_: number, error: string) {
    return this.#call("fail", () => {
      if (this.job.status !== "running") throw sqlError("55000", "not running");
      Object.assign(this.job, { status: "failed", error });
      return structuredClone(this.job);
    });
  }

  cancel() {
    return this.#call("cancel", () => {
      Object.assign(this.job, { status: "cancelled" });
      return structuredClone(this.job);
    });
  }

  status() {
    return this.#call("status", () => ({ job: structuredClone(this.job), now: new Date() }));
  }

  annotate(_: number, patch: JobSummary) {
    return this.#call("annotate", () => {
      const { skipped_samples = [], ...rest } = patch;
      const summary = { ...this.job.summary, ...rest };
      summary.skipped_samples = [...(summary.skipped_samples ?? []), ...skipped_samples];
      this.job.summary = summary;
    });
  }
}

/** A bucket of `keys` listed `pageSize` at a time; each page costs `cpuPerPage` fake CPU ms. */
export function fakeBucket(keys: string[], clock?: { cpu: number; cpuPerPage: number }) {
  const sorted = [...keys].sort();
  const listFaults: unknown[] = [];
  return {
    listFaults,
    listed: 0,
    listPage(options: { token?: string; maxKeys?: number } = {}): Promise<ListPage> {
      this.listed++;
      if (clock) clock.cpu += clock.cpuPerPage;
      const fault = listFaults.shift();
      if (fault) return Promise.reject(fault);
      const start = Number(options.token ?? 0);
      const end = start + (options.maxKeys ?? 1000);
      return Promise.resolve({
        objects: sorted.slice(start, end).map((key) => ({
          key,
          size: key.length,
          etag: "e",
          lastModified: new Date(0),
        })),
        nextToken: end < sorted.length ? String(end) : undefined,
      });
    },
  };
}

export const keys = (n: number) =>
  Array.from({ length: n }, (_, i) => `k-${String(i).padStart(5, "0")}.jpg`);
export const noSleep = () => Promise.resolve();
