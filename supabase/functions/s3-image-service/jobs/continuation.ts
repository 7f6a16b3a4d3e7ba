/**
 * How a long job keeps going after the request that started it has answered.
 *
 * - {@linkcode runInBackground}: work that should outlive the response. On Supabase the edge
 *   runtime keeps the isolate alive for promises handed to `EdgeRuntime.waitUntil`; elsewhere
 *   (the local host, `deno serve`) the process simply lives on and the promise runs.
 * - {@linkcode createContinuation}: the next slice of a job runs in a *fresh invocation* (its own
 *   CPU and wall-clock budget), reached by a self-call to the function with the service-role
 *   key. That works the same on Supabase and on the local host. Without a URL or key it falls
 *   back to running the slice in this process.
 * - A chain of self-calls is capped ({@linkcode DEFAULT_MAX_HOPS}): a job that somehow never
 *   ends cannot keep a loop of invocations going for ever. At the cap the chain stops, the job's
 *   lease runs out, and the scheduler (pg_cron on hosted, the stack's scheduler locally: see
 *   `POST /rebuild/resume`) starts a new chain within a minute or so.
 *
 * @module
 */
import { serviceKeyHeaders } from "../../_shared/auth/settings.ts";
import type { BudgetLimits } from "./budget.ts";

/** Self-calls one chain may make before it stops and leaves the job to the scheduler. */
export const DEFAULT_MAX_HOPS = 500;

/** What the next invocation of a job needs. */
export interface ContinueRequest {
  jobId: number;
  /** Lease owner name of the chain; the next slice reuses it to keep the lease. */
  worker: string;
  budget: BudgetLimits;
  /**
   * Which self-call of its chain this is: 1 for the first continuation after a driven or picked
   * up slice, then 2, 3, … Absent counts as 1.
   */
  hop?: number;
  /** The job is listed in key ranges: the slice claims ranges, not the job (`ranges.ts`). */
  ranged?: boolean;
  /**
   * Started by another worker of a job in ranges, which counted it among the job's workers: its
   * first slice starts nobody (workers started at once would each see the others' ranges still
   * free and start more, past `REBUILD_PARALLELISM`).
   */
  spawned?: boolean;
  /** The job's own listing settings (keys per page, streams), when it was started with them. */
  listing?: ListingSettings;
}

/** Listing settings a job may be started with (service_role: tests and benchmarks). */
export interface ListingSettings {
  pageSize?: number;
  parallelism?: number;
}

/** How a hand-off went. */
export type HandOff =
  /** A fresh invocation accepted the slice. */
  | "called"
  /** The slice runs in this process (no URL or key, or the self-call failed). */
  | "here"
  /** The chain reached its hop cap; the job waits for the scheduler. */
  | "capped";

/** Schedules the next slice of a job; resolves once it is handed off, not when it is done. */
export interface Continuation {
  schedule(request: ContinueRequest): Promise<HandOff>;
}

interface EdgeRuntimeGlobal {
  EdgeRuntime?: { waitUntil?: (promise: Promise<unknown>) => void };
}

/**
 * Lets `promise` run past the response: `EdgeRuntime.waitUntil` when the runtime offers it.
 * Its failure is logged, never unhandled.
 */
export function runInBackground(promise: Promise<unknown>, label = "background task"): void {
  const guarded = promise.catch((error) => console.error(`${label} failed:`, error));
  const runtime = (globalThis as EdgeRuntimeGlobal).EdgeRuntime;
  if (typeof runtime?.waitUntil === "function") runtime.waitUntil(guarded);
}

/** Options for {@linkcode createContinuation}. */
export interface ContinuationOptions {
  /**
   * The function's own base URL, e.g. `https://<ref>.supabase.co/functions/v1/s3-image-service`.
   * Without it (or without `serviceRoleKey`) slices run in this process.
   */
  functionUrl?: string;
  /** A secret key (`sb_secret_…`), or the legacy service_role JWT when no secret key exists. */
  serviceRoleKey?: string;
  /** Runs a slice in this process (the fallback, and what a self-call ends up doing). */
  runHere: (request: ContinueRequest) => Promise<unknown>;
  /** How long the self-call may take to be accepted. Default 15 000 ms. */
  handOffTimeoutMs?: number;
  /** Hop cap per chain (`REBUILD_MAX_HOPS`). Default {@linkcode DEFAULT_MAX_HOPS}. */
  maxHops?: number;
  fetch?: typeof fetch;
}

/**
 * A {@linkcode Continuation} that POSTs `{worker, budget}` to
 * `<functionUrl>/rebuild/<jobId>/continue` and waits only for the `202 Accepted` (the callee
 * answers at once and works in the background, so calls never nest). If the self-call cannot be
 * handed off, the slice runs here instead; should that process die too, the job's lease expires
 * and the next status call picks the job up again.
 */
export function createContinuation(options: ContinuationOptions): Continuation {
  const doFetch = options.fetch ?? fetch;
  const maxHops = options.maxHops ?? DEFAULT_MAX_HOPS;
  const runHere = (request: ContinueRequest): HandOff => {
    runInBackground(options.runHere(request), `Rebuild ${request.jobId} slice`);
    return "here";
  };
  return {
    async schedule(request) {
      const hop = request.hop ?? 1;
      if (hop > maxHops) {
        console.warn(
          `Rebuild ${request.jobId}: its chain reached ${maxHops} self-calls; it waits for the ` +
            `scheduler to resume it once its lease expires`,
        );
        return "capped";
      }
      if (!options.functionUrl || !options.serviceRoleKey) return runHere(request);
      const url = `${options.functionUrl.replace(/\/+$/, "")}/rebuild/${request.jobId}/continue`;
      try {
        const response = await doFetch(url, {
          method: "POST",
          headers: {
            ...serviceKeyHeaders(options.serviceRoleKey),
            "content-type": "application/json",
          },
          body: JSON.stringify({
            worker: request.worker,
            budget: request.budget,
            hop,
            ...(request.ranged ? { ranged: true } : {}),
            ...(request.spawned ? { spawned: true } : {}),
            ...(request.listing ? { listing: request.listing } : {}),
          }),
          signal: AbortSignal.timeout(options.handOffTimeoutMs ?? 15_000),
        });
        await response.body?.cancel();
        if (response.status === 202) return "called";
        console.error(`Rebuild ${request.jobId}: self-call answered ${response.status}`);
      } catch (error) {
        console.error(`Rebuild ${request.jobId}: self-call failed:`, error);
      }
      return runHere(request);
    },
  };
}
