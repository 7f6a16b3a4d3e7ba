/**
 * Rebuild benchmark: the full rebuild through `s3-image-service` (POST /rebuild, until the job
 * has succeeded) beside a bare ListObjectsV2 of the same bucket in the same run — the physical
 * limit a rebuild cannot beat, since it has to list every key. At 5,000 and 20,000 objects:
 *
 * - rebuild time ÷ bare listing time (goal ≤ 1.15) and keys/s;
 * - CPU ms per 1,000 keys, from the invocations the job records;
 * - peak memory (VmHWM) of the function's worker process, restarted before each measurement so
 *   the peak is this rebuild's; the goal is flat as the bucket grows.
 *
 * Each rebuild starts from an empty index (the worst case: every key is inserted at finish) and
 * runs with the configured budgets, as in production. Run directly, it starts its own isolated
 * stack and stops it:
 *
 * ```sh
 * node_modules/.bin/deno run -A scripts/bench/rebuild_bench.ts [--objects=20000] [--small=5000]
 * ```
 *
 * @module
 */
import postgres from "postgres"; // npm:postgres via supabase/functions/import_map.json
import type {
  Invocation,
  RebuildJob,
} from "../../supabase/functions/s3-image-service/jobs/job_store.ts";
import type { ImageStorage } from "../../supabase/functions/_shared/platform/storage.ts";
import { stackStorage } from "../stack/stack_storage.ts";
import { type StackInfo, withIsolatedStack } from "../stack/stack.ts";
import { type BenchRow, numericFlag, printReport, spreadOf } from "./report.ts";
import { cpuMsOf } from "./upload_bench.ts";

/** Options for {@linkcode runRebuildBench}. */
export interface RebuildBenchOptions {
  /** Objects in the big bucket. Default 20,000. */
  objects?: number;
  /** Objects in the small bucket, measured first for the memory comparison. Default 5,000. */
  smallObjects?: number;
  /** Rounds of each measurement; the median round counts, with the spread. Default 5. */
  repeats?: number;
}

const FUNCTION = "s3-image-service";
const PREFIX = "bench-";
const round = (value: number, digits = 0) => Number(value.toFixed(digits));

/** Fills the bucket with keys `from`..`to`-1 (small distinct bodies), 32 requests at a time. */
async function fill(storage: ImageStorage, from: number, to: number): Promise<void> {
  let next = from;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < to) {
      const i = next++;
      const key = `${PREFIX}${String(i).padStart(7, "0")}.jpg`;
      await storage.put(key, new TextEncoder().encode(`product image ${i}`), {
        contentType: "image/jpeg",
      });
    }
  }));
}

/** Lists the whole bucket as a rebuild must; returns milliseconds and keys. */
export async function bareListing(storage: ImageStorage): Promise<{ ms: number; keys: number }> {
  const started = performance.now();
  let keys = 0;
  let token: string | undefined;
  do {
    const page = await storage.listPage({ token, maxKeys: 1000 });
    keys += page.objects.length;
    token = page.nextToken;
  } while (token);
  return { ms: performance.now() - started, keys };
}

async function host(info: StackInfo, path: string, method = "GET"): Promise<unknown> {
  const response = await fetch(`${info.API_URL}/_host/functions${path}`, {
    method,
    headers: { authorization: `Bearer ${info.SERVICE_ROLE_KEY}` },
  });
  if (!response.ok) throw new Error(`host ${path}: ${response.status} ${await response.text()}`);
  return await response.json();
}

/**
 * Kills the worker, then wakes a fresh one and lets it connect to the database and S3 (stats; a
 * HeadObject of an absent key), so the process start is not timed — the bare listing it is
 * compared with runs on a warm client too. Returns its pid.
 */
export async function freshWorker(info: StackInfo): Promise<number> {
  await host(info, `/${FUNCTION}/kill`, "POST");
  const call = async (path: string, body?: unknown) => {
    const response = await fetch(`${info.FUNCTIONS_URL}/${FUNCTION}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${info.SERVICE_ROLE_KEY}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await response.body?.cancel();
  };
  await call("/stats");
  await call("/files", { filename: "bench-warm-up-absent.jpg" });
  const { functions } = await host(info, "") as { functions: Array<{ name: string; pid: number }> };
  const pid = functions.find((f) => f.name === FUNCTION)?.pid;
  if (!pid) throw new Error(`No worker pid for ${FUNCTION}`);
  return pid;
}

/** Peak and current resident memory of a process, in MiB (Linux /proc). */
export async function memoryOf(pid: number): Promise<{ peakMiB: number; rssMiB: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { peakMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024 };
}

export interface RebuildRun {
  ms: number;
  job: RebuildJob;
  peakMiB: number;
  /** The worker's VmHWM after its warm-up, before the rebuild began. */
  idlePeakMiB: number;
  /** From the start request to the first slice's start (start, hand-off, claim). */
  startupMs: number;
  /**
   * CPU the worker process spent from the start request to the job's end (Linux /proc): every
   * invocation's, counted once even when several ran at once in the process.
   */
  workerCpuMs: number;
}

/**
 * One rebuild through the function on a fresh worker, timed until the job succeeded: `full`
 * from an empty index (every key inserted at finish), else with the index already in step.
 */
export async function rebuildOnce(
  info: StackInfo,
  sql: postgres.Sql,
  full: boolean,
): Promise<RebuildRun> {
  if (full) await sql`delete from public.s3_image_cache`;
  const pid = await freshWorker(info);
  const idlePeakMiB = (await memoryOf(pid)).peakMiB;
  const cpuBefore = await cpuMsOf(pid);
  const started = performance.now();
  const startedAt = Date.now();
  const response = await fetch(`${info.FUNCTIONS_URL}/${FUNCTION}/rebuild`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${info.SERVICE_ROLE_KEY}`,
      "content-type": "application/json",
    },
    body: "{}",
  });
  const body = await response.json();
  if (response.status !== 202) throw new Error(`start: ${response.status} ${JSON.stringify(body)}`);
  const id = body.job.id as number;
  // Poll the job's status directly: status requests would add work to the worker being measured,
  // and reading the whole row (its invocations, its summary) 100 times a second would add
  // Postgres's work to the cores the rebuild and the emulator share.
  while (true) {
    const [{ status, error }] =
      await sql`select r.status, r.error from public.s3_cache_rebuilds as r
      where r.id = ${id}`;
    if (status !== "running") {
      const ms = performance.now() - started;
      if (status !== "succeeded") throw new Error(`rebuild ${id} ${status}: ${error}`);
      // Only the invocation record is written after finish; wait for it.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const [{ done }] = await sql`select to_jsonb(r) as done from public.s3_cache_rebuilds as r
        where r.id = ${id}`;
      const first = (done as RebuildJob).invocations[0];
      const startupMs = first ? Date.parse(first.at) - first.wall_ms - startedAt : 0;
      const peakMiB = (await memoryOf(pid)).peakMiB;
      const workerCpuMs = (await cpuMsOf(pid)) - cpuBefore;
      return { ms, job: done as RebuildJob, peakMiB, idlePeakMiB, startupMs, workerCpuMs };
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function measure(
  info: StackInfo,
  sql: postgres.Sql,
  storage: ImageStorage,
  objects: number,
  repeats: number,
): Promise<BenchRow[]> {
  // Alternating rounds (listing, rebuild from empty, rebuild in step): the machine drifts, and
  // each round's ratio compares runs made moments apart. The report is the median round, with
  // the spread; never the best run.
  const rounds: Array<{ listMs: number; full: RebuildRun; steady: RebuildRun }> = [];
  let keys = 0;
  for (let i = 0; i < repeats; i++) {
    const listing = await bareListing(storage);
    keys = listing.keys;
    const full = await rebuildOnce(info, sql, true);
    const steady = await rebuildOnce(info, sql, false);
    for (const run of [full, steady]) {
      if (run.job.listed !== keys) {
        throw new Error(`the rebuild listed ${run.job.listed} keys, the bucket holds ${keys}`);
      }
    }
    rounds.push({ listMs: listing.ms, full, steady });
  }
  const byRatio = (pick: (r: typeof rounds[number]) => RebuildRun) =>
    rounds.map((r) => ({ run: pick(r), listMs: r.listMs, ratio: pick(r).ms / r.listMs }))
      .sort((a, b) => a.ratio - b.ratio);
  const steadyRounds = byRatio((r) => r.steady);
  const fullRounds = byRatio((r) => r.full);
  const medianOf = <T>(sorted: T[]) => sorted[sorted.length >> 1];
  const steady = medianOf(steadyRounds).run;
  const full = medianOf(fullRounds).run;
  const listMs = medianOf(steadyRounds).listMs;
  const label = `${objects.toLocaleString("en")} objects`;
  const versusListing = (
    name: string,
    sorted: typeof steadyRounds,
    note: string,
    extra: Partial<BenchRow> = {},
  ): BenchRow => {
    const middle = medianOf(sorted);
    return {
      name,
      value: round(middle.run.ms),
      unit: "ms",
      baseline: round(middle.listMs),
      ratio: round(middle.ratio, 2),
      spread: spreadOf(sorted.map((r) => r.ratio)),
      note: `${note}; baseline: bare ListObjectsV2 of the same bucket in the same round; median ` +
        `of ${repeats} alternating rounds`,
      ...extra,
    };
  };
  const invocations = full.job.invocations as Invocation[];
  const cpuMs = invocations.reduce((sum, i) => sum + (i.cpu_ms ?? 0), 0);
  return [
    versusListing(
      `rebuild ${label}, index in step (typical)`,
      steadyRounds,
      "through the function until done",
      {
        key: `rebuild_vs_list_ratio@${objects}`,
        goal: {
          text: "≤ 1.15",
          met: medianOf(steadyRounds).ratio <= 1.15,
        },
      },
    ),
    versusListing(
      `rebuild ${label}, from an empty index`,
      fullRounds,
      `worst case: finish inserts ${full.job.inserted} rows`,
    ),
    {
      name: `rebuild ${label}, keys/s (index in step)`,
      value: round(keys / (steady.ms / 1000)),
      unit: "keys/s",
      baseline: round(keys / (listMs / 1000)),
      ratio: round(listMs / steady.ms, 2),
      note: "baseline: bare listing keys/s",
    },
    {
      name: `rebuild ${label}, from the start request to the first slice`,
      key: "why:rebuild_vs_list_ratio",
      value: round(medianOf(steadyRounds.map((r) => r.run.startupMs).sort((a, b) => a - b))),
      unit: "ms",
      note: "start and annotate the job, hand it to a fresh invocation, claim it: time the " +
        "listing has not begun (index in step, median of rounds)",
    },
    {
      name: `rebuild ${label}, CPU per 1,000 keys`,
      key: "why:rebuild_vs_list_ratio",
      value: round((cpuMs / keys) * 1000, 1),
      unit: "ms",
      note: `from the job's invocations: ${invocations.length}, largest ${
        round(Math.max(...invocations.map((i) => i.cpu_ms ?? 0)))
      } ms CPU / ${round(Math.max(...invocations.map((i) => i.wall_ms)))} ms wall`,
    },
    {
      name: `rebuild ${label}, worker peak memory (VmHWM)`,
      value: round(Math.max(full.peakMiB, steady.peakMiB), 1),
      unit: "MiB",
      note: "worker restarted before each rebuild; includes its start-up",
    },
    {
      name: `rebuild ${label}, worker peak above its warmed-up start`,
      key: "why:rebuild_memory_ratio",
      value: round(
        Math.max(full.peakMiB - full.idlePeakMiB, steady.peakMiB - steady.idlePeakMiB),
        1,
      ),
      unit: "MiB",
      note: `what the rebuild itself added to the peak; the warmed-up worker peaked at ${
        round(Math.min(full.idlePeakMiB, steady.idlePeakMiB), 1)
      } MiB before it began (Deno, the AWS SDK, postgres.js)`,
    },
  ];
}

/** The worker peak memory row of one bucket size's rows (found by name: rows get added). */
function peakMemory(rows: BenchRow[]): number {
  const row = rows.find((r) => r.name.endsWith("worker peak memory (VmHWM)"));
  if (!row) throw new Error("no worker peak memory row");
  return row.value;
}

/**
 * Measures the rebuild against `info`'s stack (its bucket should hold nothing else of size).
 * Fills the bucket to `smallObjects`, measures, fills to `objects`, measures again.
 */
export async function runRebuildBench(
  info: StackInfo,
  options: RebuildBenchOptions = {},
): Promise<BenchRow[]> {
  const { objects = 20_000, smallObjects = 5_000, repeats = 5 } = options;
  const storage = stackStorage(info);
  const sql = postgres(info.DB_URL, { max: 2, onnotice: () => {} });
  try {
    let fillMs = performance.now();
    await fill(storage, 0, smallObjects);
    fillMs = performance.now() - fillMs;
    const small = await measure(info, sql, storage, smallObjects, repeats);
    const bigFillStarted = performance.now();
    await fill(storage, smallObjects, objects);
    fillMs += performance.now() - bigFillStarted;
    const big = await measure(info, sql, storage, objects, repeats);
    const peakSmall = peakMemory(small);
    const peakBig = peakMemory(big);
    return [
      ...small,
      ...big,
      {
        name: `worker peak memory, ${objects.toLocaleString("en")} vs ${
          smallObjects.toLocaleString("en")
        } objects`,
        value: peakBig,
        unit: "MiB",
        baseline: peakSmall,
        ratio: round(peakBig / peakSmall, 2),
        key: "rebuild_memory_ratio",
        goal: { text: "≤ 1.1", met: peakBig / peakSmall <= 1.1 },
        note: `goal: flat (ratio ≈ 1); bucket filled at ${round(objects / (fillMs / 1000))} PUT/s`,
      },
    ];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) {
  await withIsolatedStack(async (info) => {
    const rows = await runRebuildBench(info, {
      objects: numericFlag("objects"),
      smallObjects: numericFlag("small"),
      repeats: numericFlag("repeats"),
    });
    printReport("rebuild", rows);
  }, { prefix: "s3-image-cache-rebuild-bench-" });
}
