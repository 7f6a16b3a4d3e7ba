/**
 * Upload benchmark: 200 uploads of a ~1 MB real JPEG at concurrency 8 through `upload-to-s3`
 * (host → function → validate, hash, PutObject, HeadObject, index row), beside 200 direct
 * PutObjects of the same bytes through our storage module in the same run — the physical limit
 * the function cannot beat. Also the function worker's peak memory (VmHWM) per concurrent
 * request, against the file size.
 *
 * Goals: the function costs at most 1.5× a direct PutObject; its memory stays under 3× the file
 * size per request.
 *
 * Run directly, it starts its own isolated stack and stops it:
 *
 * ```sh
 * node_modules/.bin/deno run -A scripts/bench/upload_bench.ts [--uploads=200] [--concurrency=8]
 * ```
 *
 * The JPEG is drawn once by Chromium (canvas noise, `toBlob("image/jpeg")`), so it is a real
 * encoder's output of realistic size and entropy.
 *
 * @module
 */
import { chromium } from "playwright-core";
import { inspectImage } from "../../supabase/functions/upload-to-s3/sniffing/sniff.ts";
import { stackStorage } from "../stack/stack_storage.ts";
import { type StackInfo, withIsolatedStack } from "../stack/stack.ts";
import { freePort, spawnService } from "../stack/process.ts";
import { REPO_ROOT } from "../stack/migrations.ts";
import { runMultipartBench } from "./multipart_bench.ts";
import { CPU_ROLE_LABELS, CPU_ROLES, type CpuRole, stackCpuMs } from "./process_cpu.ts";
import { type BenchRow, median, numericFlag, percentile, printReport, spreadOf } from "./report.ts";

/** Options for {@linkcode runUploadBench}. */
export interface UploadBenchOptions {
  /** Uploads per side. Default 200. */
  uploads?: number;
  /** Requests in flight. Default 8. */
  concurrency?: number;
  /**
   * Rounds of (direct, function), each of `uploads` uploads; ratios are the median over rounds.
   * Default 5: the emulator's own speed drifts between runs by up to ±25%, so one pair is noise.
   */
  rounds?: number;
  /** The JPEG to upload; drawn by Chromium when absent. */
  jpeg?: Uint8Array;
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** Runs `count` operations, `concurrency` at a time; returns each one's latency and the wall time. */
async function pool(
  count: number,
  concurrency: number,
  operation: (i: number) => Promise<void>,
): Promise<{ sorted: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await operation(i);
      latencies.push(performance.now() - t0);
    }
  }));
  return { sorted: latencies.sort((a, b) => a - b), wallMs: performance.now() - started };
}

/** A ~1 MB JPEG from Chromium's encoder; noise keeps it from compressing to nothing. */
export async function drawJpeg(targetBytes = 1024 * 1024): Promise<Uint8Array> {
  const browser = await chromium.launch({
    executablePath: Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage();
    for (let seed = 1; seed < 10; seed++) {
      const base64 = await page.evaluate(({ targetBytes, seed }) => {
        const canvas = document.createElement("canvas");
        canvas.width = 1350;
        canvas.height = 1000;
        const context = canvas.getContext("2d")!;
        const pixels = context.createImageData(canvas.width, canvas.height);
        let state = seed * 2_654_435_761;
        for (let i = 0; i < pixels.data.length; i += 4) {
          state = (state * 1_103_515_245 + 12_345) >>> 0;
          const x = (i / 4) % canvas.width;
          pixels.data[i] = (x / 4 + (state & 63)) & 255;
          pixels.data[i + 1] = ((state >>> 8) & 127) + 64;
          pixels.data[i + 2] = (state >>> 16) & 255;
          pixels.data[i + 3] = 255;
        }
        context.putImageData(pixels, 0, 0);
        let best = "";
        for (let quality = 0.98; quality > 0.3; quality -= 0.04) {
          best = canvas.toDataURL("image/jpeg", quality);
          if (best.length * 0.75 <= targetBytes) break;
        }
        return best.slice(best.indexOf(",") + 1);
      }, { targetBytes, seed });
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      try {
        inspectImage(bytes); // must pass every check the function makes, else draw another
        return bytes;
      } catch { /* next seed */ }
    }
    throw new Error("Could not draw a JPEG the upload function accepts");
  } finally {
    await browser.close();
  }
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc, 10 ms ticks). */
export async function cpuMsOf(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14, 15)
}

async function uploadWorker(info: StackInfo): Promise<{ pid: number; port: number }> {
  const response = await fetch(`${info.API_URL}/_host/functions`, {
    headers: { authorization: `Bearer ${info.SERVICE_ROLE_KEY}` },
  });
  const { functions } = await response.json() as {
    functions: { name: string; pid: number; port: number }[];
  };
  const worker = functions.find((f) => f.name === "upload-to-s3");
  if (!worker?.pid) throw new Error("The functions host lists no upload-to-s3 worker");
  return worker;
}

/** `VmHWM` (peak resident set) and `VmRSS` of a process, in bytes. */
/**
 * The upload worker's isolate memory now and its peak since the previous call, from the
 * function's health endpoint (service_role only).
 */
async function isolateMemory(info: StackInfo): Promise<{ now: number; peak: number }> {
  const response = await fetch(`${info.FUNCTIONS_URL}/upload-to-s3/health`, {
    headers: { authorization: `Bearer ${info.SERVICE_ROLE_KEY}` },
  });
  const body = await response.json() as {
    memory?: { isolateBytes: number; peakIsolateBytes: number };
  };
  if (!body.memory) throw new Error(`upload-to-s3/health reported no memory: ${response.status}`);
  return { now: body.memory.isolateBytes, peak: body.memory.peakIsolateBytes };
}

/**
 * VmHWM growth of a bare server (bare_body_server.ts) that only reads the same uploads'
 * bodies, at the same concurrency: the runtime's floor for the worker's process peak.
 */
async function bareServerPeakGrowth(
  form: () => FormData,
  uploads: number,
  concurrency: number,
): Promise<number> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}/`;
  const server = await spawnService("bare body server", [
    Deno.execPath(),
    "run",
    "-A",
    `${REPO_ROOT}scripts/bench/bare_body_server.ts`,
    "--port",
    String(port),
  ], { ready: async () => (await fetch(url)).ok });
  try {
    const peak = async () => Number(await (await fetch(url)).text());
    const send = async () => {
      const response = await fetch(url, { method: "POST", body: form() });
      await response.body?.cancel();
    };
    for (let i = 0; i < concurrency; i++) await send(); // as the worker was warmed
    const before = await peak();
    await pool(uploads, concurrency, send);
    return (await peak()) - before;
  } finally {
    await server.stop();
  }
}

async function memoryOf(pid: number): Promise<{ peak: number; resident: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1]) * 1024;
  return { peak: kib("VmHWM"), resident: kib("VmRSS") };
}

/**
 * The stack's CPU per upload by process, function side against direct side (median of rounds
 * per process): what the function path adds on cores every piece shares.
 */
function cpuByProcessRow(
  functionCpu: Array<Record<CpuRole, number>>,
  directCpu: Array<Record<CpuRole, number>>,
  uploads: number,
): BenchRow {
  const perUpload = (runs: Array<Record<CpuRole, number>>) =>
    Object.fromEntries(
      CPU_ROLES.map((role) => [role, median(runs.map((r) => r[role])) / uploads]),
    ) as Record<CpuRole, number>;
  const fn = perUpload(functionCpu);
  const direct = perUpload(directCpu);
  const total = (cpu: Record<CpuRole, number>) => CPU_ROLES.reduce((sum, r) => sum + cpu[r], 0);
  const parts = (cpu: Record<CpuRole, number>) =>
    CPU_ROLES.filter((role) => cpu[role] > 0)
      .map((role) => `${CPU_ROLE_LABELS[role]} ${round(cpu[role], 1)}`).join(", ");
  return {
    name: "stack CPU per upload, all processes (where the ratio's time goes)",
    key: "why:upload_vs_put_ratio",
    value: round(total(fn), 1),
    unit: "ms",
    baseline: round(total(direct), 1),
    ratio: round(total(fn) / total(direct)),
    note: `function side: ${parts(fn)}; direct side: ${parts(direct)} (ms per upload, median ` +
      `of rounds, /proc 10 ms ticks; ${navigator.hardwareConcurrency} cores shared by all)`,
  };
}

/** Measures uploads through the function against direct PutObjects on `info`'s stack. */
export async function runUploadBench(
  info: StackInfo,
  options: UploadBenchOptions = {},
): Promise<BenchRow[]> {
  const { uploads = 200, concurrency = 8, rounds = 5 } = options;
  const jpeg = options.jpeg ?? await drawJpeg();
  const storage = stackStorage(info);
  const run = crypto.randomUUID().slice(0, 8);

  const uploadForm = (key: string) => {
    const form = new FormData();
    form.set("file", new File([jpeg as Uint8Array<ArrayBuffer>], key, { type: "image/jpeg" }));
    form.set("replace", "true");
    return form;
  };
  const upload = async (url: string, key: string) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${info.SERVICE_ROLE_KEY}` },
      body: uploadForm(key),
    });
    const body = await response.text();
    if (response.status !== 201) throw new Error(`upload ${key}: ${response.status} ${body}`);
  };
  const direct = async (key: string) => {
    await storage.put(key, jpeg, {
      contentType: "image/jpeg",
      cacheControl: "public, max-age=300",
      metadata: { sha256: "x" },
    });
  };

  const worker = await uploadWorker(info);
  const viaFunction = (key: string) => upload(`${info.FUNCTIONS_URL}/upload-to-s3`, key);
  // The same function without the local gateway in front (it verifies the JWT itself).
  const viaWorker = (key: string) => upload(`http://127.0.0.1:${worker.port}/upload-to-s3`, key);
  // Warm both paths (module loading, connections), then note the worker's memory.
  for (let i = 0; i < concurrency; i++) {
    await direct(`bench-warm-${run}-d${i}.jpg`);
    await viaFunction(`bench-warm-${run}-f${i}.jpg`);
  }
  await viaWorker(`bench-warm-${run}-w.jpg`);
  const before = await memoryOf(worker.pid);
  const isolateBefore = await isolateMemory(info); // also starts a new peak period

  // Alternate the two sides, so a drift of the machine or the emulator hits both alike.
  const directRuns: Array<{ sorted: number[]; wallMs: number }> = [];
  const functionRuns: Array<{ sorted: number[]; wallMs: number }> = [];
  const isolatePeaks: number[] = [];
  const workerCpuMs: number[] = [];
  // CPU by process over each side's run: every piece of the stack shares the same cores.
  const stack = { workerPid: worker.pid, dbPort: Number(new URL(info.DB_URL).port) };
  const directCpu: Array<Record<CpuRole, number>> = [];
  const functionCpu: Array<Record<CpuRole, number>> = [];
  const cpuOver = async (work: () => Promise<void>) => {
    const before = stackCpuMs(stack);
    await work();
    const after = stackCpuMs(stack);
    return Object.fromEntries(
      CPU_ROLES.map((role) => [role, after[role] - before[role]]),
    ) as Record<
      CpuRole,
      number
    >;
  };
  for (let round = 0; round < rounds; round++) {
    directCpu.push(
      await cpuOver(async () => {
        directRuns.push(
          await pool(uploads, concurrency, (i) => direct(`bench-${run}-r${round}-d${i}.jpg`)),
        );
      }),
    );
    await isolateMemory(info); // a new peak period for this round's uploads
    const cpuBefore = await cpuMsOf(worker.pid);
    functionCpu.push(
      await cpuOver(async () => {
        functionRuns.push(
          await pool(
            uploads,
            concurrency,
            (i) => viaFunction(`bench-${run}-r${round}-f${i}.jpg`),
          ),
        );
      }),
    );
    workerCpuMs.push((await cpuMsOf(worker.pid)) - cpuBefore);
    isolatePeaks.push((await isolateMemory(info)).peak);
  }
  const after = await memoryOf(worker.pid);
  // The same uploads one at a time: the peak with one request in flight. When it is about as
  // high as with N, the growth is garbage awaiting collection rather than memory per request.
  await isolateMemory(info);
  await pool(uploads, 1, (i) => viaFunction(`bench-${run}-c1-f${i}.jpg`));
  const isolateSingle = (await isolateMemory(info)).peak;
  const merged = (runs: Array<{ sorted: number[]; wallMs: number }>) => ({
    sorted: runs.flatMap((r) => r.sorted).sort((a, b) => a - b),
    wallMs: median(runs.map((r) => r.wallMs)),
  });
  const directRun = merged(directRuns);
  const functionRun = merged(functionRuns);
  const roundRatios = functionRuns.map((r, i) => r.wallMs / directRuns[i].wallMs);
  const workerRun = await pool(uploads, concurrency, (i) => viaWorker(`bench-${run}-w${i}.jpg`));

  const size = jpeg.length;
  const mib = (bytes: number) => round(bytes / 1024 / 1024, 2);
  const p = (run: { sorted: number[] }, q: number) => round(percentile(run.sorted, q), 1);
  const perRequest = Math.max(0, after.peak - before.peak) / concurrency;
  // The same number of bodies, read by a server that does nothing else.
  const barePerRequest = await bareServerPeakGrowth(
    () => uploadForm(`bench-${run}-bare.jpg`),
    uploads * rounds,
    concurrency,
  ) / concurrency;
  const isolatePeak = median(isolatePeaks);
  // All of the growth charged to the requests in flight: an upper bound.
  const isolatePerRequest = Math.max(0, isolatePeak - isolateBefore.now) / concurrency;
  const throughputRatio = median(roundRatios);
  const p99Ratio = percentile(functionRun.sorted, 99) / percentile(directRun.sorted, 99);
  const roundP99Ratios = functionRuns.map((r, i) =>
    percentile(r.sorted, 99) / percentile(directRuns[i].sorted, 99)
  );
  const rows: BenchRow[] = [
    {
      name: `${uploads} uploads of ${mib(size)} MiB JPEG, concurrency ${concurrency}: wall time`,
      value: round(functionRun.wallMs / 1000, 2),
      unit: "s",
      baseline: round(directRun.wallMs / 1000, 2),
      ratio: round(throughputRatio),
      key: "upload_vs_put_ratio",
      spread: spreadOf(roundRatios),
      goal: { text: "≤ 1.3", met: throughputRatio <= 1.3 },
      note: `function ÷ direct PutObject, median of ${rounds} alternating rounds (${
        roundRatios.map((r) => round(r)).join(", ")
      })`,
    },
    {
      name: "upload latency p50",
      value: p(functionRun, 50),
      unit: "ms",
      baseline: p(directRun, 50),
      ratio: round(percentile(functionRun.sorted, 50) / percentile(directRun.sorted, 50)),
      note: "function ÷ direct PutObject",
    },
    {
      name: "upload latency p99",
      value: p(functionRun, 99),
      unit: "ms",
      baseline: p(directRun, 99),
      ratio: round(p99Ratio),
      key: "upload_p99_ratio",
      spread: spreadOf(roundP99Ratios),
      goal: { text: "≤ 1.5", met: p99Ratio <= 1.5 },
      note: "function ÷ direct PutObject, all rounds' latencies together; spread: per round",
    },
    {
      // Where the time goes: on 2 cores the emulator's own work is the direct side's whole cost,
      // and the function adds its CPU on top (checks, hashing, the SDK's request, the index row).
      name: "function worker CPU per upload (where the ratio's time goes)",
      key: "why:upload_vs_put_ratio",
      value: round(median(workerCpuMs) / uploads, 2),
      unit: "ms",
      baseline: round(directRun.wallMs * concurrency / uploads, 1),
      ratio: round(median(workerCpuMs) / (directRun.wallMs * concurrency), 2),
      note:
        `median over rounds (${
          workerCpuMs.map((ms) => round(ms / uploads, 1)).join(", ")
        } ms); baseline: direct PutObject wall ms × concurrency per upload; the worker also ` +
        "waits on the emulator and Postgres, which share the same 2 cores",
    },
    cpuByProcessRow(functionCpu, directCpu, uploads),
    {
      name: "same, straight to the worker (no local gateway): wall time",
      value: round(workerRun.wallMs / 1000, 2),
      unit: "s",
      baseline: round(directRun.wallMs / 1000, 2),
      ratio: round(workerRun.wallMs / directRun.wallMs),
      note: `p50 ${p(workerRun, 50)} ms, p99 ${p(workerRun, 99)} ms; shows the gateway's share`,
    },
    {
      name: "function isolate memory peak growth per request in flight",
      value: mib(isolatePerRequest),
      unit: "MiB",
      baseline: mib(size),
      ratio: round(isolatePerRequest / size),
      key: "upload_memory_ratio",
      goal: { text: "< 3", met: isolatePerRequest / size < 3 },
      note: `V8 heap + ArrayBuffers, sampled by the function: idle ${
        mib(isolateBefore.now)
      } MiB, peak ${mib(isolatePeak)} MiB with ${concurrency} in flight (median of rounds), ${
        mib(isolateSingle)
      } MiB with 1 (so most of the growth is garbage awaiting collection); goal ratio < 3${
        isolatePerRequest / size >= 3 ? " (missed)" : ""
      }`,
    },
    {
      name: "function worker process peak (VmHWM) growth per concurrent request",
      value: mib(perRequest),
      unit: "MiB",
      baseline: mib(barePerRequest),
      ratio: round(perRequest / barePerRequest),
      note:
        `baseline: a bare Deno.serve reading the same ${uploads * rounds} bodies (${
          round(barePerRequest / size)
        }x the file); VmHWM ${mib(before.peak)} → ${mib(after.peak)} MiB, RSS after ${
          mib(after.resident)
        } MiB. Adds the runtime's HTTP buffers and garbage not yet collected, so it grows with ` +
        "the run's length; informational, the goal is on the isolate row",
    },
  ];

  // Leave the bucket as we found it (the index rows go with the throw-away stack).
  const keys = [
    ...Array.from({ length: uploads }, (_, i) => [
      `bench-${run}-w${i}.jpg`,
      `bench-${run}-c1-f${i}.jpg`,
      ...Array.from(
        { length: rounds },
        (_, r) => [`bench-${run}-r${r}-d${i}.jpg`, `bench-${run}-r${r}-f${i}.jpg`],
      ).flat(),
    ]).flat(),
    `bench-warm-${run}-w.jpg`,
    ...Array.from(
      { length: concurrency },
      (_, i) => [`bench-warm-${run}-d${i}.jpg`, `bench-warm-${run}-f${i}.jpg`],
    ).flat(),
  ];
  await pool(keys.length, 16, (i) => storage.delete(keys[i]));
  return rows;
}

if (import.meta.main) {
  const jpeg = await drawJpeg();
  await withIsolatedStack(async (info) => {
    const rows = await runUploadBench(info, {
      uploads: numericFlag("uploads"),
      concurrency: numericFlag("concurrency"),
      rounds: numericFlag("rounds"),
      jpeg,
    });
    printReport("upload", [...rows, ...await runMultipartBench()]);
  }, { prefix: "s3-image-cache-upload-bench-" });
}
