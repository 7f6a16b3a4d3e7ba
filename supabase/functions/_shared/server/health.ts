/**
 * `GET /<function>/health`: proves routing, the gateway's JWT check and the caller's role
 * end to end, and reports configuration problems by variable name (never by value).
 *
 * `GET /<function>/health?deep=true` also checks what the function depends on, each with a short
 * timeout: the bucket (`HeadBucket`) and the database (`select 1`). `200 {ok: true, …, checks:
 * {bucket: "ok", database: "ok"}}`, or `503 {ok: false, …}` with a sentence naming what failed
 * in place of `"ok"`. The deploy script's smoke test calls it after every deployment.
 *
 * @module
 */
import { authenticate } from "../auth/authenticate.ts";
import { type Config, config } from "../platform/config.ts";
import { getDb } from "../platform/db.ts";
import { describeS3Failure, headBucket } from "../platform/storage.ts";
import { AppError } from "../errors.ts";
import { json } from "./responses.ts";
import { memoryPeak } from "../platform/memory_meter.ts";

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

/** A secret-free sentence for a database failure: its SQLSTATE or network code, never a URL. */
export function describeDbFailure(error: unknown): string {
  const code = (error as { code?: string })?.code;
  if (code === "28P01" || code === "28000") {
    return `the database refused our login (${code}): check SUPABASE_DB_URL or DB_POOLER_URL`;
  }
  if (code === "3D000") return `the database does not exist (${code})`;
  if (code && /^E[A-Z]+$/.test(code)) return `the database is unreachable (${code})`;
  if (code === "CONNECT_TIMEOUT") return "the database is unreachable (connect timeout)";
  return code ? `the database answered with an error (${code})` : "the database is unreachable";
}

/** The deep checks against the real bucket and database of `settings`. */
export function dependencyChecks(settings: Config): Record<string, Check> {
  return {
    bucket: (signal) => headBucket(settings, { signal }),
    database: async () => {
      await getDb(settings)`select 1`;
    },
  };
}

/** Answers a health request for `functionName`. */
export async function healthResponse(request: Request, functionName: string): Promise<Response> {
  // Who is calling comes first and from the auth settings alone, so a broken storage or
  // database setting never opens the door: it is reported to authenticated callers instead.
  const caller = await authenticate(request);
  const deep = ["true", "1"].includes(new URL(request.url).searchParams.get("deep") ?? "");
  let settings: Config | undefined;
  let configProblem: string | undefined;
  try {
    settings = config();
  } catch (error) {
    configProblem = error instanceof AppError ? error.message : "configuration unreadable";
  }
  const checks = deep
    ? settings
      ? await runChecks(
        dependencyChecks(settings),
        (name, error) =>
          name === "bucket"
            ? describeS3Failure(error, settings.S3_BUCKET)
            : describeDbFailure(error),
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
    ...(caller.role === "service_role" ? { memory: memoryReport() } : {}),
  }, ok ? 200 : deep ? 503 : 500);
}

function memoryReport() {
  const usage = Deno.memoryUsage();
  const isolateBytes = usage.heapUsed + usage.external;
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    isolateBytes,
    peakIsolateBytes: Math.max(isolateBytes, memoryPeak.takePeak()),
  };
}
