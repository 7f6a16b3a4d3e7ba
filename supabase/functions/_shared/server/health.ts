/**
 * `GET /<function>/health`: proves routing, the gateway's JWT check and the caller's role
 * end to end, and reports configuration problems by variable name (never by value).
 *
 * `GET /<function>/health?deep=true`, for an admin or the secret key (anyone else gets the
 * shallow answer), also checks what the function depends on, each with a short timeout: the bucket (`HeadBucket`) and the database (`select 1`). `200 {ok: true, …, checks:
 * {bucket: "ok", database: "ok"}}`, or `503 {ok: false, …}` with a sentence naming what failed
 * in place of `"ok"`. The deploy script's smoke test calls it after every deployment.
 *
 * @module
 */
import { type Caller, type CallerRole, ROLES } from "../auth/roles.ts";
import { AppError } from "../errors.ts";
import type { PeakMeter } from "../platform/memory_meter.ts";
import { json } from "./responses.ts";

/** Who may ask for the deep checks. */
const DEEP_HEALTH_ROLES: readonly CallerRole[] = ROLES.admins;

/** How long each deep check may take. Well under any gateway limit. */
export const CHECK_TIMEOUT_MS = 3000;

/** One dependency check: resolves when healthy, rejects with the error otherwise. */
export type Check = (signal: AbortSignal) => Promise<void>;

/** A check's answer: `"ok"` or a sentence saying what failed. */
export type CheckResult = "ok" | string;

/**
 * Runs `checks` side by side, each within `timeoutMs`; `describe` turns a failure into a
 * secret-free sentence.
 */
export async function runChecks(
  checks: Record<string, Check>,
  describe: (name: string, error: unknown) => string,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<Record<string, CheckResult>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
      const controller = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // Settle first: a check that ends as soon as it is aborted must not count as ok.
          reject(new CheckTimeout(timeoutMs));
          controller.abort();
        }, timeoutMs);
      });
      try {
        await Promise.race([check(controller.signal), timedOut]);
        return [name, "ok"];
      } catch (error) {
        return [name, error instanceof CheckTimeout ? error.message : describe(name, error)];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return Object.fromEntries(entries);
}

class CheckTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms / 1000} s`);
  }
}

/**
 * One dependency a function needs, as its composition root describes it: how to check it, and
 * the secret-free sentence its failures become (from the Postgres or S3 classifier).
 */
export interface DependencyCheck {
  run: Check;
  describe: (error: unknown) => string;
}

/** What {@linkcode healthResponse} needs. */
export interface HealthOptions {
  functionName: string;
  /** The verified caller (the router authenticated it). */
  caller: Caller;
  /** The deep checks; throws a `misconfigured` AppError when the configuration is invalid. */
  checks: () => Record<string, DependencyCheck>;
  /** The isolate's memory meter, which the function samples at its peaks (service_role sees it). */
  memory?: PeakMeter;
}

/** Answers a health request. */
export async function healthResponse(request: Request, options: HealthOptions): Promise<Response> {
  const { caller, functionName } = options;
  // A deep check costs a bucket call and a query, and its sentences name the bucket: operators
  // only (an admin or the secret key). Anyone else asking for it gets the shallow answer.
  const deep = ["true", "1"].includes(new URL(request.url).searchParams.get("deep") ?? "") &&
    DEEP_HEALTH_ROLES.includes(caller.role);
  let dependencies: Record<string, DependencyCheck> | undefined;
  let configProblem: string | undefined;
  try {
    dependencies = options.checks();
  } catch (error) {
    configProblem = error instanceof AppError ? error.message : "configuration unreadable";
  }
  const checks = deep
    ? dependencies
      ? await runChecks(
        Object.fromEntries(Object.entries(dependencies).map(([name, { run }]) => [name, run])),
        (name, error) => dependencies[name].describe(error),
      )
      : { bucket: "not checked: the configuration is invalid", database: "not checked" }
    : undefined;
  const checksOk = !checks || Object.values(checks).every((result) => result === "ok");
  const ok = configProblem === undefined && checksOk;
  return json({
    ok,
    function: functionName,
    role: caller.role,
    ...(configProblem ? { configuration: configProblem } : {}),
    ...(checks ? { checks } : {}),
    // For operators only: the worker's memory, and its isolate's peak since the last such look.
    ...(caller.role === "service_role" ? { memory: memoryReport(options.memory) } : {}),
  }, ok ? 200 : deep ? 503 : 500);
}

function memoryReport(meter: PeakMeter | undefined) {
  const usage = Deno.memoryUsage();
  const isolateBytes = usage.heapUsed + usage.external;
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    isolateBytes,
    peakIsolateBytes: Math.max(isolateBytes, meter?.takePeak() ?? 0),
  };
}
