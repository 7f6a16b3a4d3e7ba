/**
 * `npm run test:load`: many people at once, on loopback against a throw-away isolated stack.
 *
 * 500 uploads from 16 concurrent clients (managers) while rebuilds run back to back and two
 * storefront readers poll the index. Afterwards:
 *
 * - every upload answered 2xx is in the bucket (checked with a plain S3 client, not the one the
 *   functions use) and in the index (`lookup_s3_cache`);
 * - no request got a 5xx;
 * - the index never shrank between two reads (uploads only add; a rebuild may not take rows
 *   away that it should keep).
 *
 * Bounded in count (`--uploads`, `--clients`) and time (`--minutes`, default 5): a run past its
 * deadline fails. Prints throughput and p50/p99, the checks as `N passed, N failed`, and the JSON
 * line `npm run bench` collects into `bench/REPORT.json` (`load`). Exit code 1 when a check fails.
 *
 * @module
 */
import postgres from "postgres";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { samplePng } from "../lib/png.ts";
import { type StackInfo, withIsolatedStack } from "../stack/stack.ts";
import { type BenchRow, numericFlag, percentile, printReport } from "./report.ts";

/** What one load run found. */
export interface LoadResult {
  uploads: number;
  succeeded: number;
  lostUploads: number;
  responses5xx: number;
  indexShrank: boolean;
  minIndexDrop: number;
  rebuilds: number;
  uploadsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Runs the load against `info`'s stack. */
export async function runLoad(
  info: StackInfo,
  options: { uploads?: number; clients?: number; minutes?: number } = {},
): Promise<LoadResult> {
  const { uploads = 500, clients = 16, minutes = 5 } = options;
  const deadline = Date.now() + minutes * 60_000;
  const run = crypto.randomUUID().slice(0, 6);
  const sql = postgres(info.DB_URL, { max: 3, onnotice: () => {} });
  const s3 = new S3Client({
    region: info.AWS_REGION,
    endpoint: info.S3_ENDPOINT || undefined,
    forcePathStyle: Boolean(info.S3_ENDPOINT),
    credentials: { accessKeyId: info.AWS_ACCESS_KEY, secretAccessKey: info.AWS_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const statuses: Record<string, number> = {};
  const count = (status: number) => (statuses[status] = (statuses[status] ?? 0) + 1);
  let responses5xx = 0;
  let done = false;

  const service = async (path: string, body: unknown) => {
    const response = await fetch(`${info.FUNCTIONS_URL}/s3-image-service${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: {
        authorization: `Bearer ${info.SERVICE_ROLE_KEY}`,
        "content-type": "application/json",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json().catch(() => ({}));
    if (response.status >= 500) responses5xx++;
    return { status: response.status, json };
  };

  // Rebuilds back to back for as long as uploads go on (small budget: many invocations each).
  let rebuilds = 0;
  const rebuilding = (async () => {
    while (!done && Date.now() < deadline) {
      const { status, json } = await service("/rebuild", {
        budget: { cpuMs: 200, wallMs: 300 },
      });
      if (status !== 202) throw new Error(`rebuild start: ${status} ${JSON.stringify(json)}`);
      const id = json.job.id as number;
      while (Date.now() < deadline) {
        const { json: state } = await service(`/rebuild/${id}`, undefined);
        if (state.job?.status !== "running") break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      rebuilds++;
    }
  })();

  // Two storefront readers: the index's row count, read over and over.
  let minIndexDrop = 0;
  const reader = async () => {
    let previous = -1;
    while (!done && Date.now() < deadline) {
      const [{ n }] = await sql`select count(*)::int as n from public.s3_image_cache`;
      if (previous >= 0 && n < previous) minIndexDrop = Math.min(minIndexDrop, n - previous);
      previous = n;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const readers = [reader(), reader()];

  // The uploads: `clients` workers take the next upload until all are sent.
  const bodies = Array.from({ length: 8 }, (_, i) => samplePng(i, 200, 150));
  const latencies: number[] = [];
  const stored: string[] = [];
  let next = 0;
  const started = performance.now();
  const client = async () => {
    while (next < uploads && Date.now() < deadline) {
      const i = next++;
      const filename = `load-${run}-${String(i).padStart(4, "0")}.png`;
      const form = new FormData();
      form.set(
        "file",
        new File([bodies[i % bodies.length] as Uint8Array<ArrayBuffer>], filename, {
          type: "image/png",
        }),
      );
      const t0 = performance.now();
      const response = await fetch(`${info.FUNCTIONS_URL}/upload-to-s3`, {
        method: "POST",
        headers: { authorization: `Bearer ${info.MANAGER_TOKEN}` },
        body: form,
      });
      await response.body?.cancel();
      latencies.push(performance.now() - t0);
      count(response.status);
      if (response.status >= 500) responses5xx++;
      if (response.ok) stored.push(filename);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const elapsedMs = performance.now() - started;
  done = true;
  await Promise.all([rebuilding, ...readers]);
  if (Date.now() > deadline) throw new Error(`the load did not finish within ${minutes} min`);

  // Every successful upload is in the bucket and in the index.
  const indexed = new Set(
    (await sql`select filename from public.lookup_s3_cache(${stored}::text[])`).map((row) =>
      row.filename as string
    ),
  );
  let lostUploads = 0;
  for (const key of stored) {
    const inBucket = await s3.send(new HeadObjectCommand({ Bucket: info.S3_BUCKET, Key: key }))
      .then(() => true, () => false);
    if (!inBucket || !indexed.has(key)) lostUploads++;
  }
  await sql.end({ timeout: 5 });
  s3.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    uploads: latencies.length,
    succeeded: stored.length,
    lostUploads,
    responses5xx,
    indexShrank: minIndexDrop < 0,
    minIndexDrop,
    rebuilds,
    uploadsPerSecond: round(latencies.length / (elapsedMs / 1000)),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    statuses,
  };
}

/** The load's figures as report rows (`load.*` keys). */
export function loadRows(result: LoadResult, clients: number): BenchRow[] {
  const row = (key: string, name: string, value: number, unit: string, note?: string) => ({
    key: `load.${key}`,
    name,
    value,
    unit,
    ...(note ? { note } : {}),
  });
  return [
    row(
      "uploads_per_s",
      `load: ${result.uploads} uploads, ${clients} clients, rebuilds running`,
      result.uploadsPerSecond,
      "uploads/s",
      `${result.rebuilds} rebuilds ran meanwhile; statuses ${JSON.stringify(result.statuses)}`,
    ),
    row("p50_ms", "load: upload latency p50", result.p50Ms, "ms"),
    row("p99_ms", "load: upload latency p99", result.p99Ms, "ms"),
    row(
      "lost_uploads",
      "load: successful uploads missing from bucket or index",
      result.lostUploads,
      "uploads",
      "must be 0",
    ),
    row(
      "responses_5xx",
      "load: responses with a 5xx status",
      result.responses5xx,
      "responses",
      "must be 0",
    ),
    row(
      "index_shrank",
      "load: the index shrank between two reads",
      result.indexShrank ? 1 : 0,
      "bool",
      "must be 0",
    ),
  ];
}

if (import.meta.main) {
  const clients = numericFlag("clients") ?? 16;
  const result = await withIsolatedStack((info) =>
    runLoad(info, {
      uploads: numericFlag("uploads"),
      clients,
      minutes: numericFlag("minutes"),
    }), { prefix: "s3-image-cache-load-" });
  const checks: Array<[string, boolean]> = [
    ["every successful upload is in the bucket and the index", result.lostUploads === 0],
    ["no request got a 5xx", result.responses5xx === 0],
    ["the index never shrank", !result.indexShrank],
    [
      "every upload was sent and answered 2xx",
      result.succeeded === (numericFlag("uploads") ?? 500),
    ],
  ];
  printReport("load", loadRows(result, clients));
  for (const [name, ok] of checks) console.log(`${ok ? "ok" : "FAILED"}  ${name}`);
  const failed = checks.filter(([, ok]) => !ok).length;
  console.log(`${checks.length - failed} passed, ${failed} failed`);
  Deno.exit(failed ? 1 : 0);
}
