/**
 * The finish at scale: `s3_cache_rebuild_finish` applying a staged listing to an index of 1M rows
 * of which 1% changed — the one transaction a rebuild of a million-object bucket ends with, which
 * must stay well inside the hosted wall limit (goal `scale.finish_1m_ms` ≤ 5,000 ms). The preview
 * (`s3_cache_rebuild_preview`, what a reconcile shows before it applies) is measured the same way.
 *
 * Each round sets up from scratch, untimed: the index is refilled with N rows in one statement
 * (generate_series, rows written before the job starts, as in production), vacuumed and analysed;
 * a job is started and its complete listing staged as 1,000-key pages in the worker's line format
 * (listing_page.ts: key, size, ETag, LastModified in epoch milliseconds), written directly with
 * SQL in S3's byte order; then only `select s3_cache_rebuild_finish(job)` is timed, from the
 * client, and its counts are checked, so a finish that applies the wrong thing fails the bench
 * instead of looking fast.
 *
 * The 1% changed is split as a bucket drifts between rebuilds: 0.6% of the keys replaced (new
 * ETag and size: `update`), 0.2% deleted from the bucket (`removed` at finish), 0.2% new keys
 * (`insert`); besides, 0.01% of the listing are names the rules refuse (`notes-….txt`: skipped).
 * Key names are shaped like product images (`14000.jpg`, `14000-2.jpg`, `14000.webp`,
 * `14000-3.png`).
 *
 * Run alone, it starts a private cluster (Postgres 17 from npm, or `PG_BIN`'s) and prints each
 * round, the median and the spread:
 *
 * ```sh
 * node_modules/.bin/deno run -A scripts/bench/scale_finish.ts [--rows=1000000] [--rounds=3] \
 *   [--changed=0.01] [--no-preview]
 * PG_BIN=/usr/lib/postgresql/15/bin node_modules/.bin/deno run -A scripts/bench/scale_finish.ts
 * ```
 *
 * @module
 */
import postgres from "postgres"; // npm:postgres via supabase/functions/import_map.json
import { startCluster } from "../stack/postgres.ts";
import { applyMigrations } from "../stack/migrations.ts";
import { freePort, makeStackTempDir } from "../stack/process.ts";
import { median, numericFlag, spreadOf } from "./report.ts";

/** Options for {@linkcode measureFinishAtScale} and {@linkcode measurePreviewAtScale}. */
export interface ScaleFinishOptions {
  /** Rows in the index before the finish (and keys the bucket listed, about as many). Default 1,000,000. */
  rows?: number;
  /**
   * The fraction of the index that changed: 60% of it replaced keys, 20% deleted keys, 20% new
   * keys. Default 0.01.
   */
  changedFraction?: number;
  /** Timed rounds, each set up from scratch. Default 3. */
  rounds?: number;
}

/** What one round's finish must report, derived from the options. */
export interface ScaleShape {
  rows: number;
  updated: number;
  removed: number;
  inserted: number;
  skipped: number;
  listed: number;
}

type Sql = ReturnType<typeof postgres>;

const PAGE_SIZE = 1000;
/** 2026-01-01T00:00:00Z in epoch milliseconds: LastModified of key i is this plus i seconds. */
const EPOCH_MS = 1_767_225_600_000;

/** The counts a round's finish must report for `options`. */
export function scaleShape(options: ScaleFinishOptions = {}): ScaleShape {
  const rows = options.rows ?? 1_000_000;
  const fraction = options.changedFraction ?? 0.01;
  if (!Number.isInteger(rows) || rows < PAGE_SIZE) {
    throw new RangeError(`rows must be an integer of at least ${PAGE_SIZE}, got ${rows}`);
  }
  if (!(fraction >= 0 && fraction <= 0.5)) {
    throw new RangeError(`changedFraction must be between 0 and 0.5, got ${fraction}`);
  }
  const changed = Math.round(rows * fraction);
  const updated = Math.round(changed * 0.6);
  const removed = Math.round(changed * 0.2);
  const inserted = changed - updated - removed;
  const skipped = Math.floor(rows / 10_000);
  return { rows, updated, removed, inserted, skipped, listed: rows - removed + inserted + skipped };
}

/**
 * Refills the index and stages a complete job for `shape` (untimed setup of one round; also for
 * looking at the plans by hand); returns the job id. Key i (0-based) of
 * the index is changed when its rank in a fixed permutation falls below the changed counts, so the
 * changes are spread over the whole key space, not bunched in one corner of it.
 */
export async function setUpScaleRound(sql: Sql, shape: ScaleShape): Promise<number> {
  // A finished job of an earlier round has no pages left; a failed setup may have left one running.
  await sql`select public.s3_cache_rebuild_cancel(r.id)
    from public.s3_cache_rebuilds as r where r.status = 'running'`;
  await sql`truncate public.s3_image_cache`;
  await sql`truncate s3_image_cache_private.s3_cache_removals`;
  // The bench's helper: name, rank and metadata of key i, the same in the index and the listing.
  await sql`create or replace function pg_temp.scale_key(i bigint) returns text
    language sql immutable as $$
      select (10000 + i / 4)::text
        || (array['.jpg', '-2.jpg', '.webp', '-3.png'])[(i % 4)::integer + 1]
    $$`;
  // Rank: a bijection of 0..rows-1 (multiplication by a prime modulo a larger prime would not be
  // one; this is an affine map modulo rows with a multiplier coprime to it).
  const multiplier = coprimeMultiplier(shape.rows);
  await sql.unsafe(`
    insert into public.s3_image_cache (filename, size_bytes, etag, content_type, last_modified)
    select pg_temp.scale_key(i), 10000 + i % 90000,
      '"' || lpad(to_hex((i * 2654435761) % 4294967296), 8, '0') || '"',
      (array['image/jpeg', 'image/jpeg', 'image/webp', 'image/png'])[(i % 4)::integer + 1],
      to_timestamp((${EPOCH_MS} + i * 1000)::float8 / 1000)
    from generate_series(0, ${shape.rows - 1}::bigint) as i`);
  await sql`vacuum analyze public.s3_image_cache`;

  const [{ start }] = await sql`select public.s3_cache_rebuild_start('scale-bench') as start`;
  if (!start.started) throw new Error(`A rebuild is already running: ${start.message}`);
  const jobId = Number(start.job.id);
  // Held for the round: in a stack, the resumer hands a running job with a free lease to a worker,
  // which would list the bucket and stage its own page 1 beside ours (the scale bench's 1M run
  // failed on s3_cache_rebuild_pages_pkey that way).
  await sql`select public.s3_cache_rebuild_claim(${jobId}, 'scale-bench', 3600)`;
  // The listing: every index key but the removed ones, the replaced ones with a new ETag and
  // size, then the new keys and the refused names, in byte order, 1,000 lines a page.
  await sql.unsafe(`
    with keys as (
      select pg_temp.scale_key(i) as filename,
        case when r < ${shape.updated} then 20000 + i % 90000 else 10000 + i % 90000 end as size,
        case when r < ${shape.updated} then '"' || md5(i::text) || '"'
          else '"' || lpad(to_hex((i * 2654435761) % 4294967296), 8, '0') || '"' end as etag,
        ${EPOCH_MS} + i * 1000 + case when r < ${shape.updated} then 86400000 else 0 end as ms
      from generate_series(0, ${shape.rows - 1}::bigint) as i
      cross join lateral (select (i * ${multiplier}) % ${shape.rows} as r) as p
      where not (r >= ${shape.updated} and r < ${shape.updated + shape.removed})
      union all
      select pg_temp.scale_key(${shape.rows}::bigint + i), 30000 + i % 1000,
        '"' || md5(('new' || i)::text) || '"', ${EPOCH_MS} + 2 * 86400000 + i
      from generate_series(0, ${shape.inserted - 1}::bigint) as i
      union all
      select 'notes-' || i || '.txt', 100, '"n' || i || '"', ${EPOCH_MS}
      from generate_series(0, ${shape.skipped - 1}::bigint) as i
    ),
    lines as (
      select (row_number() over (order by filename collate "C") - 1) / ${PAGE_SIZE} as page,
        filename, size, etag, ms
      from keys
    )
    insert into public.s3_cache_rebuild_pages (job_id, page, listing)
    select ${jobId}, page + 1,
      string_agg(filename || E'\\t' || size || E'\\t' || etag || E'\\t' || ms || E'\\n', ''
        order by filename collate "C")
    from lines group by page`);
  const [{ pages, listed }] = await sql`
    select count(*)::integer as pages,
      coalesce(sum(octet_length(listing) - octet_length(replace(listing, E'\n', ''))), 0)::bigint
        as listed
    from public.s3_cache_rebuild_pages where job_id = ${jobId}`;
  if (Number(listed) !== shape.listed) {
    throw new Error(`staged ${listed} keys, expected ${shape.listed}`);
  }
  // As the last stage_page leaves the job: listing complete, counters matching the pages.
  await sql`update public.s3_cache_rebuilds set listing_complete = true, continuation_token = null,
    pages = ${pages}, listed = ${listed} where id = ${jobId}`;
  // As autovacuum would during a long listing (its threshold is 50 rows). It hardly matters: a
  // never analysed pages table gets the same plan (one run: 2.4 s against 2.3 s analysed).
  await sql`analyze public.s3_cache_rebuild_pages`;
  await sql`checkpoint`;
  return jobId;
}

/** The smallest multiplier ≥ 7919 coprime to n, so `i * m mod n` permutes 0..n-1. */
function coprimeMultiplier(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let m = 7919;
  while (gcd(m, n) !== 1) m++;
  return m;
}

async function withSql<T>(dbUrl: string, work: (sql: Sql) => Promise<T>): Promise<T> {
  const sql: Sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Times `s3_cache_rebuild_finish` on an index of `rows` rows with `changedFraction` of them
 * changed, once per round, each round set up from scratch. Point it at a throw-away database with
 * the project's migrations: it truncates `s3_image_cache` and cancels a running job.
 *
 * @param dbUrl `postgresql://…` of the database.
 * @param options Rows (default 1,000,000), changed fraction (default 0.01), rounds (default 3).
 * @returns Milliseconds of each round's finish, in round order.
 *
 * @example
 * ```ts
 * const ms = await measureFinishAtScale("postgresql://postgres@127.0.0.1:55440/postgres", {
 *   rows: 100_000,
 *   rounds: 1,
 * });
 * ```
 */
export async function measureFinishAtScale(
  dbUrl: string,
  options: ScaleFinishOptions = {},
): Promise<number[]> {
  const shape = scaleShape(options);
  const rounds = options.rounds ?? 3;
  return await withSql(dbUrl, async (sql) => {
    const times: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const jobId = await setUpScaleRound(sql, shape);
      const started = performance.now();
      const [{ job }] = await sql`select public.s3_cache_rebuild_finish(${jobId}) as job`;
      times.push(performance.now() - started);
      const got = {
        status: job.status,
        updated: Number(job.updated),
        inserted: Number(job.inserted),
        removed: Number(job.removed),
        skipped: Number(job.skipped),
      };
      const want = {
        status: "succeeded",
        updated: shape.updated,
        inserted: shape.inserted,
        removed: shape.removed,
        skipped: shape.skipped,
      };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(
          `finish applied ${JSON.stringify(got)}, expected ${JSON.stringify(want)}: ${job.error}`,
        );
      }
    }
    return times;
  });
}

/**
 * Times `s3_cache_rebuild_preview` (100 samples of each kind, as the function asks) the same way
 * as {@linkcode measureFinishAtScale}; the job is cancelled after each round, the index unchanged.
 *
 * @returns Milliseconds of each round's preview, in round order.
 */
export async function measurePreviewAtScale(
  dbUrl: string,
  options: ScaleFinishOptions = {},
): Promise<number[]> {
  const shape = scaleShape(options);
  const rounds = options.rounds ?? 3;
  return await withSql(dbUrl, async (sql) => {
    const times: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const jobId = await setUpScaleRound(sql, shape);
      const started = performance.now();
      const [{ preview }] = await sql`select public.s3_cache_rebuild_preview(${jobId}, 100)
        as preview`;
      times.push(performance.now() - started);
      await sql`select public.s3_cache_rebuild_cancel(${jobId})`;
      const got = [preview.to_update, preview.to_insert, preview.to_remove, preview.skipped]
        .map(Number);
      const want = [shape.updated, shape.inserted, shape.removed, shape.skipped];
      if (got.join() !== want.join()) {
        throw new Error(`preview counted ${got}, expected ${want}`);
      }
    }
    return times;
  });
}

if (import.meta.main) {
  const options: ScaleFinishOptions = {
    rows: numericFlag("rows"),
    changedFraction: numericFlag("changed"),
    rounds: numericFlag("rounds"),
  };
  const shape = scaleShape(options);
  const dir = await makeStackTempDir("s3-image-cache-scale-finish-");
  const cluster = await startCluster({
    dataDir: `${dir}/data`,
    socketDir: `${dir}/sock`,
    port: freePort(),
  });
  const show = (name: string, ms: number[]) => {
    const [low, high] = spreadOf(ms, 0);
    console.log(
      `${name}: rounds ${ms.map((m) => Math.round(m)).join(", ")} ms; median ${
        Math.round(median(ms))
      } ms; spread ${low}–${high} ms`,
    );
  };
  try {
    console.log(
      `Postgres ${cluster.binaries.major} (${cluster.binaries.source}); ${shape.rows} rows, ` +
        `${shape.updated} updated, ${shape.inserted} inserted, ${shape.removed} removed, ` +
        `${shape.skipped} skipped`,
    );
    await applyMigrations(cluster.url);
    if (!Deno.args.includes("--no-preview")) {
      show("preview", await measurePreviewAtScale(cluster.url, options));
    }
    show("finish", await measureFinishAtScale(cluster.url, options));
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
