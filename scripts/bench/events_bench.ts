/**
 * Live sync benchmark: how long a change made straight in the bucket takes to show in the index,
 * through the whole local path a user's `aws s3 cp` / `aws s3 rm` takes: PutObject or
 * DeleteObject (`@aws-sdk/client-s3`, as awscli sends them) → the S3 emulator's event → its
 * delivery (scripts/stack/event_delivery.mjs) → `POST /s3-image-service/events` → the index.
 *
 * 200 operations a second for 30 s (three puts of new keys for each delete of a key put earlier).
 * Latency is from the S3 call's answer to the moment a reader of `s3_image_cache` sees the change
 * (a new key's row present, a deleted key's row gone): one poller asks the index every
 * `POLL_MS` for every change still pending, so each figure includes up to one poll interval of
 * waiting, as a storefront polling the index would. Then a settle period, and `events.lost`: keys
 * on which the index and the bucket disagree at the end, without a rebuild.
 *
 * Goals (issue 20): p99 ≤ 1,000 ms, 0 lost.
 *
 * ```sh
 * npm run bench -- events
 * node_modules/.bin/deno run -A scripts/bench/events_bench.ts [--rate=200] [--seconds=30]
 * ```
 *
 * @module
 */
import {
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import postgres from "postgres";
import { type StackInfo, withIsolatedStack } from "../stack/stack.ts";
import { type BenchRow, numericFlag, percentile, printReport } from "./report.ts";

/** How often the poller reads the index: the latency's resolution. */
const POLL_MS = 10;
/** How long the end waits for the last changes before counting what is lost. */
const SETTLE_MS = 30_000;
/** Operations in flight at most: the sender never blocks on a slow call. */
const IN_FLIGHT = 64;

/** Options for {@linkcode runEventsBench}. */
export interface EventsBenchOptions {
  /** S3 operations per second. Default 200. */
  rate?: number;
  /** How long to send. Default 30. */
  seconds?: number;
}

/** What the run measured. */
export interface EventsBenchResult {
  operations: number;
  puts: number;
  deletes: number;
  operationsPerSecond: number;
  /** S3 calls that failed (not counted in latency). */
  failedCalls: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** S3 call latency p50, for scale. */
  s3CallP50Ms: number;
  /** Changes the index had not shown by the end of the settle period. */
  unreflected: number;
  /** Keys on which index and bucket disagree at the end. */
  lost: number;
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** A pending change: when its S3 call answered, and what the index must show. */
interface Pending {
  answeredAt: number;
  present: boolean;
}

/** Runs the benchmark against a stack whose emulator delivers events. */
export async function runEventsBench(
  info: StackInfo,
  options: EventsBenchOptions = {},
): Promise<EventsBenchResult> {
  const rate = options.rate ?? 200;
  const seconds = options.seconds ?? 30;
  const prefix = `ev${crypto.randomUUID().slice(0, 6)}-`;
  const s3 = new S3Client({
    endpoint: info.S3_ENDPOINT,
    region: info.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: info.AWS_ACCESS_KEY, secretAccessKey: info.AWS_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const sql = postgres(info.DB_URL, { max: 2, onnotice: () => {} });
  const body = new Uint8Array(2048).fill(7);
  body.set([0xff, 0xd8, 0xff, 0xe0]);

  const pending = new Map<string, Pending>();
  const latencies: number[] = [];
  const callLatencies: number[] = [];
  let failedCalls = 0;
  let puts = 0;
  let deletes = 0;
  /** Keys put and answered, oldest first, with when: what deletes take. */
  const deletable: Array<{ key: string; at: number }> = [];

  let polling = true;
  let settleDeadline = Infinity;
  const poller = (async () => {
    while (polling || pending.size) {
      if (pending.size) {
        const keys = [...pending.keys()];
        const rows = await sql<{ filename: string }[]>`
          select filename from public.s3_image_cache where filename = any(${keys}::text[])`;
        const seenAt = performance.now();
        const present = new Set(rows.map((row) => row.filename));
        for (const key of keys) {
          const change = pending.get(key)!;
          if (present.has(key) === change.present) {
            latencies.push(seenAt - change.answeredAt);
            pending.delete(key);
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (!polling && performance.now() > settleDeadline) break;
    }
  })();

  const operation = async (i: number) => {
    // Every fourth operation deletes a key put at least a second ago (so its create has landed
    // or is in flight, as a real clean-up job finds it); the rest put new keys.
    const oldest = deletable[0];
    const remove = i % 4 === 3 && oldest !== undefined && performance.now() - oldest.at > 1000;
    const key = remove ? deletable.shift()!.key : `${prefix}${String(i).padStart(6, "0")}.jpg`;
    const started = performance.now();
    try {
      if (remove) {
        await s3.send(new DeleteObjectCommand({ Bucket: info.S3_BUCKET, Key: key }));
        deletes++;
      } else {
        await s3.send(
          new PutObjectCommand({
            Bucket: info.S3_BUCKET,
            Key: key,
            Body: body,
            ContentType: "image/jpeg",
          }),
        );
        puts++;
      }
    } catch (error) {
      failedCalls++;
      console.error(`S3 call failed for ${key}:`, error instanceof Error ? error.message : error);
      return;
    }
    const answeredAt = performance.now();
    callLatencies.push(answeredAt - started);
    pending.set(key, { answeredAt, present: !remove });
    if (!remove) deletable.push({ key, at: answeredAt });
  };

  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const inFlight = new Set<Promise<void>>();
  const startedAt = performance.now();
  for (let i = 0; i < total; i++) {
    // Open loop: operation i starts at its time whatever the earlier ones are doing.
    const due = startedAt + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    const promise = operation(i).finally(() => inFlight.delete(promise));
    inFlight.add(promise);
  }
  await Promise.all(inFlight);
  const sendMs = performance.now() - startedAt;
  settleDeadline = performance.now() + SETTLE_MS;
  polling = false;
  await poller;
  const unreflected = pending.size;

  // Index against bucket over this run's keys: a missed event shows as a difference.
  const bucketKeys = new Set<string>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: info.S3_BUCKET,
        Prefix: prefix,
        ContinuationToken: token,
      }),
    );
    for (const object of page.Contents ?? []) bucketKeys.add(object.Key!);
    token = page.NextContinuationToken;
  } while (token);
  const rows = await sql<{ filename: string }[]>`
    select filename from public.s3_image_cache where starts_with(filename, ${prefix})`;
  const indexKeys = new Set(rows.map((row) => row.filename));
  let lost = 0;
  for (const key of bucketKeys) if (!indexKeys.has(key)) lost++;
  for (const key of indexKeys) if (!bucketKeys.has(key)) lost++;

  await sql.end({ timeout: 5 });
  s3.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const calls = callLatencies.sort((a, b) => a - b);
  return {
    operations: puts + deletes,
    puts,
    deletes,
    operationsPerSecond: round((puts + deletes) / (sendMs / 1000)),
    failedCalls,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? 0),
    s3CallP50Ms: round(percentile(calls, 50)),
    unreflected,
    lost,
  };
}

/** The run's figures as report rows (`events.*` keys). */
export function eventsRows(result: EventsBenchResult): BenchRow[] {
  const scope = `${result.puts} PutObject + ${result.deletes} DeleteObject at ` +
    `${result.operationsPerSecond}/s`;
  return [
    {
      key: "events.p50_ms",
      name: "live sync: S3 call answered → index shows it, p50",
      value: result.p50Ms,
      unit: "ms",
      baseline: result.s3CallP50Ms,
      note: `${scope}; baseline: the S3 call's own p50; includes up to ${POLL_MS} ms of polling`,
    },
    {
      key: "events.p99_ms",
      name: "live sync: S3 call answered → index shows it, p99",
      value: result.p99Ms,
      unit: "ms",
      goal: { text: "≤ 1000", met: result.p99Ms <= 1000 },
      note: `max ${result.maxMs} ms; ${result.unreflected} change(s) never shown within ${
        SETTLE_MS / 1000
      } s`,
    },
    {
      key: "events.lost",
      name: "live sync: keys where index and bucket differ at the end (no rebuild)",
      value: result.lost,
      unit: "keys",
      goal: { text: "0", met: result.lost === 0 },
      note: `${result.failedCalls} S3 call(s) failed`,
    },
  ];
}

if (import.meta.main) {
  const result = await withIsolatedStack(
    (info) => runEventsBench(info, { rate: numericFlag("rate"), seconds: numericFlag("seconds") }),
    { prefix: "s3-image-cache-events-", bucketEvents: true },
  );
  printReport("events", eventsRows(result));
  Deno.exit(result.lost === 0 && result.unreflected === 0 ? 0 : 1);
}
