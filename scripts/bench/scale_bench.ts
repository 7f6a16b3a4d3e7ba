/**
 * Scale benchmark (`npm run bench -- scale`): the rebuild of 100,000 and 1,000,000 objects at
 * S3's pace, beside one sequential bare listing of the same key space in the same round — what
 * a rebuild that lists one page after another cannot beat, and what a partitioned rebuild
 * should beat by far (goals ≤ 0.3 at 100k, ≤ 0.2 and under 30 s at 1M).
 *
 * The bucket is the listing stand-in (scale/listing_standin.ts: a synthetic key space of
 * product-image names), reached through the latency proxy under the `aws` profile (a list page
 * 100 ms, HEAD 25 ms: latency_profile.ts), by the functions (their `S3_ENDPOINT`) and by the
 * bare listing alike. The rebuild is whatever the code runs, through the function
 * (`POST /rebuild`, until the job succeeded); only the endpoint differs from production.
 *
 * Also: CPU per 1,000 keys and the largest invocation's CPU and wall (from the job's
 * `invocations`), the worker's peak memory at 1M ÷ at 100k (goal ≤ 1.2), the finish of a
 * 1M-row index with 1% changed (`scale_finish.ts`'s `measureFinishAtScale`, when present), and
 * the upload benchmark with both sides through the `aws` profile (`upload_vs_put_ratio_aws`,
 * goal ≤ 1.15).
 *
 * Each size gets its own isolated stack; its first rebuild fills the empty index (reported, not
 * counted), then rounds alternate a bare listing and a rebuild with the index in step, and the
 * report is the median round with the spread.
 *
 * ```sh
 * node_modules/.bin/deno run -A scripts/bench/scale_bench.ts [--sizes=100000,1000000]
 *   [--rounds=3] [--large-rounds=2] [--latency=aws] [--no-upload] [--no-finish] [--only-upload]
 * ```
 *
 * `--only-upload` measures `upload_vs_put_ratio_aws` alone (no sizes, no finish).
 *
 * @module
 */
import postgres from "postgres"; // npm:postgres via supabase/functions/import_map.json
import type { Invocation } from "../../supabase/functions/s3-image-service/jobs/job_store.ts";
import { parseConfig } from "../../supabase/functions/_shared/platform/config.ts";
import { createS3Storage } from "../../supabase/functions/_shared/platform/s3_client.ts";
import type { ImageStorage } from "../../supabase/functions/_shared/platform/storage.ts";
import { startS3LatencyProxy } from "../stack/fault_proxy.ts";
import { parseLatencyProfile } from "../stack/latency_profile.ts";
import { REPO_ROOT } from "../stack/migrations.ts";
import { withIsolatedStack } from "../stack/stack.ts";
import { bareListing, rebuildOnce, type RebuildRun } from "./rebuild_bench.ts";
import { type BenchRow, median, numericFlag, printReport, spreadOf } from "./report.ts";
import { startListingStandin } from "./scale/listing_standin.ts";
import { drawJpeg, runUploadBench, type UploadBenchOptions } from "./upload_bench.ts";

/** Options for {@linkcode runScaleBench}. */
export interface ScaleBenchOptions {
  /** Bucket sizes, ascending. Default 100,000 and 1,000,000. */
  sizes?: number[];
  /** Rounds at every size but the largest. Default 3. */
  rounds?: number;
  /** Rounds at the largest size. Default 2. */
  largeRounds?: number;
  /** The latency profile (`S3_LATENCY` syntax). Default `aws`. */
  latency?: string;
  /** Run the upload benchmark through the profile. Default true. */
  upload?: boolean;
  /** Measure the 1M-row finish (scale_finish.ts) when it exists. Default true. */
  finish?: boolean;
  /** Upload benchmark options (uploads, concurrency, rounds); its defaults when absent. */
  uploadOptions?: Omit<UploadBenchOptions, "jpeg">;
}

/** The rebuild's default budget per invocation (config.ts), which each invocation must keep. */
const CPU_BUDGET_MS = 1_200;
const WALL_BUDGET_MS = 60_000;

const round = (value: number, digits = 0) => Number(value.toFixed(digits));

/** `100k`, `1m`: the size as the report's keys name it. */
export function sizeLabel(objects: number): string {
  if (objects >= 1_000_000 && objects % 1_000_000 === 0) return `${objects / 1_000_000}m`;
  if (objects >= 1_000 && objects % 1_000 === 0) return `${objects / 1_000}k`;
  return String(objects);
}

/** The goal of the rebuild ÷ listing ratio at a size (the issue's), if it has one. */
export function rebuildGoal(
  objects: number,
  ratio: number,
  rebuildMs: number,
): BenchRow["goal"] | undefined {
  if (objects === 100_000) return { text: "≤ 0.3", met: ratio <= 0.3 };
  if (objects === 1_000_000) {
    return { text: "≤ 0.2 and rebuild < 30 s", met: ratio <= 0.2 && rebuildMs < 30_000 };
  }
  return undefined;
}

/** One round: a bare listing, then a rebuild with the index in step. */
interface Round {
  listMs: number;
  run: RebuildRun;
}

interface SizeResult {
  objects: number;
  rows: BenchRow[];
  /** The worker's peak memory (VmHWM, MiB), the highest over this size's rebuilds. */
  peakMiB: number;
}

function storageAt(endpoint: string): ImageStorage {
  return createS3Storage(parseConfig({
    AWS_ACCESS_KEY: "bench",
    AWS_SECRET_ACCESS_KEY: "bench-secret",
    AWS_REGION: "us-east-1",
    S3_BUCKET: "product-images",
    S3_ENDPOINT: endpoint,
    SUPABASE_DB_URL: "postgresql://postgres@127.0.0.1:9/postgres",
  }));
}

/**
 * CPU figures of a rebuild: per 1,000 keys from the worker process (its /proc CPU over the job),
 * the same summed from the job's invocations, and the largest invocation's CPU and wall. Each
 * invocation reads `process.cpuUsage()`, the whole process's: with several invocations at once
 * in one worker each also counts the others', so their sum overstates and the process's figure
 * is the one reported.
 */
function invocationCost(run: RebuildRun, keys: number) {
  const invocations = run.job.invocations as Invocation[];
  const cpuMs = invocations.reduce((sum, i) => sum + (i.cpu_ms ?? 0), 0);
  return {
    count: invocations.length,
    cpuPer1000: (run.workerCpuMs / keys) * 1000,
    invocationsCpuPer1000: (cpuMs / keys) * 1000,
    maxCpuMs: Math.max(...invocations.map((i) => i.cpu_ms ?? 0)),
    maxWallMs: Math.max(...invocations.map((i) => i.wall_ms)),
  };
}

/** Measures one bucket size on its own stack: rounds of bare listing and rebuild. */
async function measureSize(
  objects: number,
  rounds: number,
  latencySpec: string,
  isLargest: boolean,
  finish: boolean,
): Promise<SizeResult> {
  const latency = parseLatencyProfile(latencySpec);
  if (!latency) throw new Error("The scale benchmark needs a latency profile, not off");
  const standin = startListingStandin({ objects });
  const proxy = startS3LatencyProxy(standin.url, latency);
  try {
    return await withIsolatedStack(async (info) => {
      const sql = postgres(info.DB_URL, { max: 2, onnotice: () => {} });
      try {
        const storage = storageAt(proxy.url);
        const label = `${objects.toLocaleString("en")} objects`;
        const checked = (run: RebuildRun) => {
          if (run.job.listed !== objects) {
            throw new Error(
              `The rebuild listed ${run.job.listed} keys, the bucket holds ${objects}`,
            );
          }
          return run;
        };
        console.error(`scale: ${label}, first rebuild (empty index)…`);
        const fill = checked(await rebuildOnce(info, sql, true));
        const results: Round[] = [];
        for (let i = 0; i < rounds; i++) {
          console.error(`scale: ${label}, round ${i + 1} of ${rounds}…`);
          const listing = await bareListing(storage);
          if (listing.keys !== objects) {
            throw new Error(`The bare listing saw ${listing.keys} keys, not ${objects}`);
          }
          results.push({ listMs: listing.ms, run: checked(await rebuildOnce(info, sql, false)) });
        }
        const ratios = results.map((r) => r.run.ms / r.listMs);
        const middle = results.toSorted((a, b) => a.run.ms / a.listMs - b.run.ms / b.listMs)[
          results.length >> 1
        ];
        const ratio = middle.run.ms / middle.listMs;
        const costs = results.map((r) => invocationCost(r.run, objects));
        const middleCost = invocationCost(middle.run, objects);
        const peakMiB = Math.max(fill.peakMiB, ...results.map((r) => r.run.peakMiB));
        const label2 = sizeLabel(objects);
        const rows: BenchRow[] = [
          {
            name: `rebuild ${label} at S3's pace (${latency.name} profile), index in step`,
            key: `scale.rebuild_vs_sequential_listing_${label2}`,
            value: round(middle.run.ms),
            unit: "ms",
            baseline: round(middle.listMs),
            ratio: round(ratio, 2),
            spread: spreadOf(ratios),
            goal: rebuildGoal(objects, ratio, middle.run.ms),
            note: `through the function until done; baseline: one sequential bare ListObjectsV2 ` +
              `of the same key space through the same profile, same round; median of ${rounds} ` +
              `alternating rounds; ${middleCost.count} invocations; ` +
              `${round(objects / (middle.run.ms / 1000))} keys/s against the listing's ` +
              `${round(objects / (middle.listMs / 1000))}`,
          },
          {
            name: `rebuild ${label} at S3's pace, from an empty index`,
            value: round(fill.ms),
            unit: "ms",
            note: `the first rebuild of the stack; finish inserted ${fill.job.inserted} rows, ` +
              `skipped ${fill.job.skipped} names the rules refuse; not in the ratio`,
          },
          {
            name: `rebuild ${label}, worker peak memory (VmHWM)`,
            value: round(peakMiB, 1),
            unit: "MiB",
            note: "worker restarted before each rebuild; the highest over this size's rebuilds",
          },
        ];
        if (isLargest) {
          rows.push(
            {
              name: `rebuild ${label}, CPU per 1,000 keys`,
              key: "scale.cpu_ms_per_1000_keys",
              value: round(middleCost.cpuPer1000, 1),
              unit: "ms",
              spread: spreadOf(costs.map((c) => c.cpuPer1000), 1),
              note: `the worker process's CPU over the job (/proc), index in step, median round; ` +
                `spread over rounds; the job's invocations sum to ${
                  round(middleCost.invocationsCpuPer1000, 1)
                } ms (process-wide readings that overlap when invocations run at once)`,
            },
            {
              name: `rebuild ${label}, the largest invocation's CPU`,
              key: "scale.largest_invocation_cpu_ms",
              value: round(middleCost.maxCpuMs),
              unit: "ms",
              spread: spreadOf(costs.map((c) => c.maxCpuMs), 0),
              goal: {
                text: `≤ ${CPU_BUDGET_MS} (REBUILD_CPU_BUDGET_MS)`,
                met: Math.max(...costs.map((c) => c.maxCpuMs)) <= CPU_BUDGET_MS,
              },
              note: "the most CPU one invocation used, of the median round; every round must " +
                "keep the budget for the goal to be met",
            },
            {
              name: `rebuild ${label}, the largest invocation's wall time`,
              key: "scale.largest_invocation_wall_ms",
              value: round(middleCost.maxWallMs),
              unit: "ms",
              spread: spreadOf(costs.map((c) => c.maxWallMs), 0),
              goal: {
                text: `≤ ${WALL_BUDGET_MS} (REBUILD_WALL_BUDGET_MS)`,
                met: Math.max(...costs.map((c) => c.maxWallMs)) <= WALL_BUDGET_MS,
              },
              note: "the longest invocation of the median round",
            },
          );
          if (finish) rows.push(...await finishRows(info.DB_URL));
        }
        return { objects, rows, peakMiB };
      } finally {
        await sql.end({ timeout: 5 });
      }
    }, { prefix: "s3-image-cache-scale-bench-", functionEnv: { S3_ENDPOINT: proxy.url } });
  } finally {
    await proxy.stop();
    await standin.stop();
  }
}

/**
 * `scale.finish_1m_ms` from scale_finish.ts's `measureFinishAtScale`, imported only when the
 * file exists (it is written apart from this benchmark); no row, and a note, when it does not.
 * It refills the index, so it runs after this stack's rebuilds.
 */
async function finishRows(dbUrl: string): Promise<BenchRow[]> {
  const path = `${REPO_ROOT}scripts/bench/scale_finish.ts`;
  if (!(await Deno.stat(path).then(() => true, () => false))) {
    console.error(
      "scale: scripts/bench/scale_finish.ts is absent; scale.finish_1m_ms not measured",
    );
    return [];
  }
  const module = await import(new URL("./scale_finish.ts", import.meta.url).href);
  const rounds = 3;
  const times: number[] = await module.measureFinishAtScale(dbUrl, {
    rows: 1_000_000,
    changedFraction: 0.01,
    rounds,
  });
  const ms = median(times);
  return [{
    name: "finish of a 1,000,000-row index with 1% changed",
    key: "scale.finish_1m_ms",
    value: round(ms),
    unit: "ms",
    spread: spreadOf(times, 0),
    goal: { text: "≤ 5000", met: ms <= 5_000 },
    note:
      `s3_cache_rebuild_finish, one transaction (scale_finish.ts); median of ${times.length} rounds`,
  }];
}

/** The upload benchmark with both sides through the latency profile. */
async function uploadRows(
  latency: string,
  options: Omit<UploadBenchOptions, "jpeg"> = {},
): Promise<BenchRow[]> {
  const jpeg = await drawJpeg();
  return await withIsolatedStack(async (info) => {
    if (!info.S3_PROXY_URL) throw new Error("The stack put no latency proxy in front of S3");
    // The direct PutObjects go through the same proxy as the function's.
    const rows = await runUploadBench({ ...info, S3_ENDPOINT: info.S3_PROXY_URL }, {
      ...options,
      jpeg,
    });
    const wall = rows.find((row) => row.key === "upload_vs_put_ratio");
    if (!wall?.ratio) throw new Error("The upload benchmark reported no upload_vs_put_ratio");
    const profile = `${latency} profile`;
    // Beside the goal's row, what explains it: CPU per upload (the worker's, and every stack
    // process's) and the same uploads without the local gateway.
    const why = rows.filter((row) => row.key === "why:upload_vs_put_ratio").map((row) => ({
      ...row,
      name: `${row.name}, ${profile}`,
      key: "why:upload_vs_put_ratio_aws",
    }));
    const straight = rows.filter((row) => row.name.startsWith("same, straight to the worker"))
      .map((row) => ({ ...row, name: `${row.name}, ${profile}` }));
    return [
      {
        ...wall,
        name: `${wall.name}, both sides through the ${profile}`,
        key: "upload_vs_put_ratio_aws",
        goal: { text: "≤ 1.15", met: wall.ratio <= 1.15 },
      },
      ...why,
      ...straight,
    ];
  }, { prefix: "s3-image-cache-scale-upload-", s3Latency: latency });
}

/** Runs every size, then the memory ratio, then the upload benchmark. */
export async function runScaleBench(options: ScaleBenchOptions = {}): Promise<BenchRow[]> {
  const {
    sizes = [100_000, 1_000_000],
    rounds = 3,
    largeRounds = 2,
    latency = "aws",
    upload = true,
    finish = true,
    uploadOptions,
  } = options;
  const sorted = sizes.toSorted((a, b) => a - b);
  const results: SizeResult[] = [];
  for (const objects of sorted) {
    const largest = objects === sorted.at(-1);
    results.push(
      await measureSize(objects, largest ? largeRounds : rounds, latency, largest, finish),
    );
  }
  const rows = results.flatMap((r) => r.rows);
  if (results.length > 1) {
    const small = results[0];
    const big = results.at(-1)!;
    const ratio = big.peakMiB / small.peakMiB;
    rows.push({
      name: `rebuild worker peak memory, ${big.objects.toLocaleString("en")} vs ${
        small.objects.toLocaleString("en")
      } objects`,
      key: `scale.memory_ratio_${sizeLabel(big.objects)}_vs_${sizeLabel(small.objects)}`,
      value: round(big.peakMiB, 1),
      unit: "MiB",
      baseline: round(small.peakMiB, 1),
      ratio: round(ratio, 2),
      goal: { text: "≤ 1.2", met: ratio <= 1.2 },
      note: "worker VmHWM, the highest over each size's rebuilds; goal: flat as the bucket grows",
    });
  }
  if (upload) rows.push(...await uploadRows(latency, uploadOptions));
  return rows;
}

if (import.meta.main) {
  const onlyUpload = Deno.args.includes("--only-upload");
  const sizes = onlyUpload ? [] : Deno.args.find((arg) => arg.startsWith("--sizes="))
    ?.slice("--sizes=".length).split(",").map(Number);
  const latency = Deno.args.find((arg) => arg.startsWith("--latency="))?.slice(10);
  const rows = await runScaleBench({
    sizes,
    rounds: numericFlag("rounds"),
    largeRounds: numericFlag("large-rounds"),
    latency,
    upload: onlyUpload || !Deno.args.includes("--no-upload"),
    finish: !onlyUpload && !Deno.args.includes("--no-finish"),
    uploadOptions: {
      uploads: numericFlag("uploads"),
      concurrency: numericFlag("concurrency"),
      rounds: numericFlag("upload-rounds"),
    },
  });
  printReport("scale", rows);
}
