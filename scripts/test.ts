/**
 * `npm test`: every test tier in order, stopping at the first that fails.
 *
 *   static       deno fmt --check, deno lint, deno check, shellcheck
 *   unit         Deno tests next to their source (fakes allowed), then their line coverage of
 *                supabase/functions (files no unit test loads count as 0%); the tier fails
 *                below UNIT_COVERAGE_MIN (default 85)
 *   db           on Postgres 17 (npm's, as `npm start`) and on Postgres 15 (Debian's), since
 *                hosted projects run either: a fresh private cluster, migrations pushed by the
 *                Supabase CLI, then pasted again with psql to prove they are re-runnable;
 *                `supabase db lint` where plpgsql_check exists (15); pgTAP. The summary has a
 *                line per major.
 *   integration  Deno tests over HTTP against an isolated stack started here
 *   e2e          the admin UI in Chromium (playwright-core) against an isolated stack
 *
 * `npm test -- unit db` (or `npm run test:unit`, …) runs only the named tiers. The last line is
 * the totals across tiers: `N passed, N failed, N skipped`.
 *
 * @module
 */
import { REPO_ROOT } from "./stack/migrations.ts";
import { applyMigrations } from "./stack/migrations.ts";
import {
  embeddedBinaries,
  ensurePgTap,
  type PgBinaries,
  systemBinaries,
} from "./stack/pg_binaries.ts";
import { startCluster } from "./stack/postgres.ts";
import {
  commandExists,
  freePort,
  makeStackTempDir,
  MissingPrerequisite,
  run,
} from "./stack/process.ts";
import { type StackOptions, withIsolatedStack } from "./stack/stack.ts";
import { formatCoverage, measureCoverage } from "./lib/coverage.ts";
import { readFilenameCorpus } from "../tests/corpus/filenames.ts";
import { LIVE_SYNC_PREFIX } from "../tests/support/live_sync.ts";
import { CORPUS_PGTAP_URL, renderCorpusPgTap } from "../tests/corpus/filenames_pgtap.ts";

const DENO = `${REPO_ROOT}node_modules/.bin/deno`;
const SUPABASE = `${REPO_ROOT}node_modules/.bin/supabase`;
const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** Counts one tier reports. */
interface TierResult {
  passed: number;
  failed: number;
  skipped: number;
  /** A tier that runs in several setups (the db tier, once per Postgres major): each's counts. */
  parts?: TierPart[];
}

/** One setup of a tier: a short name (`pg 17`), what it ran on, its counts and time. */
interface TierPart {
  name: string;
  label: string;
  result: TierResult;
  seconds: number;
}

/** The summary's line for a tier, or (indented, with its label at the end) one of its parts. */
export function summaryRow(
  name: string,
  result: TierResult,
  seconds: number,
  part?: { label: string },
): string {
  const indent = part ? "    " : "  ";
  return `${indent}${name.padEnd(14 - indent.length)} ${String(result.passed).padStart(4)} ` +
    `passed ${String(result.failed).padStart(3)} failed ${String(result.skipped).padStart(3)} ` +
    `skipped  ${seconds.toFixed(1)}s${part ? `  ${part.label}` : ""}`;
}

const TIERS: Record<string, () => Promise<TierResult>> = {
  static: staticChecks,
  unit: unitTests,
  db: databaseTests,
  integration: integrationTests,
  e2e: browserTests,
};

/** Runs a command with its output streamed to ours, and also captured for counting. */
async function stream(args: string[], env: Record<string, string> = {}): Promise<RunOutput> {
  const [program, ...rest] = args;
  const child = new Deno.Command(program, {
    args: rest,
    cwd: REPO_ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (source: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of source) {
      text += decoder.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
  };
  await Promise.all([pump(child.stdout, Deno.stdout), pump(child.stderr, Deno.stderr)]);
  const { code } = await child.status;
  return { code, text };
}

interface RunOutput {
  code: number;
  text: string;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Reads Deno's closing `ok | 3 passed | 0 failed | 1 ignored` line. */
export function parseDenoTestSummary(output: string): TierResult | undefined {
  const clean = output.replace(ANSI, "");
  const lines = clean.split("\n").filter((line) => /^(ok|FAILED) \| \d+ passed/.test(line));
  const line = lines.at(-1);
  if (!line) return undefined;
  const number = (label: string) => Number(new RegExp(`(\\d+) ${label}`).exec(line)?.[1] ?? 0);
  return { passed: number("passed"), failed: number("failed"), skipped: number("ignored") };
}

/** Reads pg_prove's `Files=2, Tests=40` and `Failed 3/40 subtests` lines. */
export function parsePgProveSummary(output: string, exitCode: number): TierResult {
  const total = Number(/Tests=(\d+)/.exec(output)?.[1] ?? 0);
  let failed = 0;
  for (const match of output.matchAll(/Failed (\d+)\/\d+ subtests/g)) failed += Number(match[1]);
  const skipped = [...output.matchAll(/skipped: (\d+)/gi)].reduce((sum, m) => sum + +m[1], 0);
  if (exitCode !== 0 && failed === 0) failed = 1; // a file died before reporting its plan
  return { passed: Math.max(total - failed - skipped, 0), failed, skipped };
}

/** Shell scripts the static tier runs shellcheck on. */
const SHELL_SCRIPTS = [
  "deploy-s3-function.sh",
  ".ci/run",
  "scripts/deploy/testdata/supabase",
  "scripts/deploy/testdata/aws",
];

async function staticChecks(): Promise<TierResult> {
  if (!(await commandExists("shellcheck"))) {
    throw new MissingPrerequisite(
      "shellcheck not found (checks the deploy script)",
      "apt-get install -y shellcheck",
    );
  }
  const checks: Array<[string, string[]]> = [
    ["deno fmt --check", [DENO, "fmt", "--check"]],
    ["deno lint", [DENO, "lint"]],
    ["deno check", [DENO, "check", "."]],
    ["shellcheck", ["shellcheck", ...SHELL_SCRIPTS]],
  ];
  const result = { passed: 0, failed: 0, skipped: 0 };
  for (const [name, args] of checks) {
    const { code } = await stream(args);
    console.log(`${code === 0 ? "ok" : "FAILED"}: ${name}`);
    code === 0 ? result.passed++ : result.failed++;
  }
  return result;
}

async function denoTest(
  paths: string[],
  env: Record<string, string> = {},
  flags: string[] = [],
): Promise<TierResult> {
  const { code, text } = await stream(
    [DENO, "test", "--allow-all", "--no-check", ...flags, ...paths],
    env,
  );
  const summary = parseDenoTestSummary(text);
  if (!summary) return { passed: 0, failed: 1, skipped: 0 };
  if (code !== 0 && summary.failed === 0) summary.failed = 1;
  return summary;
}

/** The tree whose line coverage the unit tier reports. */
const COVERAGE_TREE = "supabase/functions";

/**
 * The unit tests, then their line coverage of {@linkcode COVERAGE_TREE} (files no test loads
 * count as 0%). Below `UNIT_COVERAGE_MIN` (a percentage, default 85: the project's goal) the tier
 * fails, so new code arrives with its unit tests.
 */
async function unitTests(): Promise<TierResult> {
  const scratch = await makeStackTempDir("s3-image-cache-coverage-");
  try {
    const profile = `${scratch}/tests`;
    const result = await denoTest(
      ["supabase/functions", "scripts", "admin-ui"],
      {},
      [`--coverage=${profile}`, "--coverage-raw-data-only"],
    );
    let summary;
    try {
      summary = await measureCoverage({
        root: REPO_ROOT,
        tree: COVERAGE_TREE,
        profile,
        deno: DENO,
        scratch,
      });
    } catch (error) {
      // E.g. no test module compiled, so there is no profile: the test counts already say so.
      console.log(`\ncoverage: not measured (${error instanceof Error ? error.message : error})`);
      result.failed++;
      return result;
    }
    console.log(`\n${formatCoverage(summary, { tree: COVERAGE_TREE }).join("\n")}`);
    const minimum = Number(Deno.env.get("UNIT_COVERAGE_MIN") ?? 85);
    if (summary.percent < minimum) {
      console.log(`FAILED: coverage is below UNIT_COVERAGE_MIN=${minimum}%`);
      result.failed++;
    }
    return result;
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

async function migrationFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${REPO_ROOT}supabase/migrations`)) {
    if (entry.isFile && entry.name.endsWith(".sql")) {
      files.push(`${REPO_ROOT}supabase/migrations/${entry.name}`);
    }
  }
  return files.sort();
}

/** Runs one psql script (`-f`) or command (`-c`) with `ON_ERROR_STOP`; returns unaligned output. */
async function psql(url: string, ...args: string[]): Promise<string> {
  const { stdout } = await run([
    "psql",
    "-X",
    "-q",
    "-At",
    "-v",
    "ON_ERROR_STOP=1",
    "-d",
    url,
    ...args,
  ]);
  return stdout.trim();
}

/**
 * `pg_get_functiondef` of every function in our schemas and `pg_get_viewdef` of every view, by
 * signature: what a re-run migration must leave exactly as it found it.
 */
async function schemaDefinitions(url: string): Promise<Record<string, string>> {
  return JSON.parse(
    await psql(
      url,
      "-c",
      `select coalesce(json_object_agg(d.name, d.def), '{}') from (
         select p.oid::regprocedure::text as name, pg_get_functiondef(p.oid) as def
         from pg_proc as p
         where p.pronamespace::regnamespace::text in ('public', 's3_image_cache_private')
         union all
         select c.oid::regclass::text, pg_get_viewdef(c.oid)
         from pg_class as c
         where c.relkind = 'v'
           and c.relnamespace::regnamespace::text in ('public', 's3_image_cache_private')
       ) as d`,
    ),
  );
}

/**
 * The files among `later` that create or replace one of the `changed` functions or views
 * (names as `schemaDefinitions` gives them: `f(bigint)`, `schema.f(text)`, `schema.v`).
 */
async function supersedingFiles(later: string[], changed: string[]): Promise<string[]> {
  if (changed.length === 0) return [];
  const names = changed.map((name) => name.replace(/\(.*$/, "").replace(/^.*\./, ""));
  const found: string[] = [];
  for (const file of later) {
    const text = await Deno.readTextFile(file);
    const defines = names.some((name) =>
      new RegExp(`create or replace (function|view) (\\w+\\.)?${name}\\b`, "i").test(text)
    );
    if (defines) found.push(file);
  }
  return found;
}

/** Names whose definition differs between two snapshots (added, dropped or changed). */
function changedDefinitions(before: Record<string, string>, after: Record<string, string>) {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort();
}

/** Index rows the re-run check seeds: as a stack's seeded images, older than any job. */
const RERUN_SEED_ROWS = 36;

/**
 * A rebuild through the worker's primitives whose listing holds exactly the seeded rows (as the
 * bucket would): finish must succeed and remove none of them. Returns what went wrong, if anything.
 */
async function rebuildKeepsSeededRows(url: string, dir: string): Promise<string | undefined> {
  const script = `${dir}/rerun_rebuild.sql`;
  await Deno.writeTextFile(
    script,
    `insert into public.s3_image_cache (filename, size_bytes, etag, last_modified)
       select 'rerun-' || g || '.jpg', g, '"e' || g || '"', '2026-01-01 00:00:00+00'
       from generate_series(1, ${RERUN_SEED_ROWS}) as g
       on conflict (filename) do nothing;
     select (public.s3_cache_rebuild_start('db tier') -> 'job' ->> 'id') as job \\gset
     select public.s3_cache_rebuild_claim(:job, 'db-tier', 60) is not null as claimed \\gset
     -- The listing text the worker sends (listing_page.ts): key, size, ETag, epoch milliseconds.
     select public.s3_cache_rebuild_stage_page(:job, 'db-tier', null, null, (
       select string_agg(format(E'%s\\t%s\\t%s\\t%s\\n', c.filename, c.size_bytes, c.etag,
         (extract(epoch from c.last_modified) * 1000)::bigint), '' order by c.filename)
       from public.s3_image_cache as c where c.filename like 'rerun-%')) is not null as staged \\gset
     select public.s3_cache_rebuild_finish(:job) as finished \\gset
     -- A statement of its own: within finish's statement, the count would not see its deletes.
     select json_build_object('job', :'finished'::jsonb,
       'kept', (select count(*) from public.s3_image_cache where filename like 'rerun-%'));`,
  );
  const { job, kept } = JSON.parse(await psql(url, "-f", script));
  if (job.status !== "succeeded" || Number(job.removed) !== 0 || kept !== RERUN_SEED_ROWS) {
    return `finish answered status ${job.status}, removed ${job.removed}, and ${kept} of ` +
      `${RERUN_SEED_ROWS} listed rows are left`;
  }
}

/** Debian's Postgres 15 server binaries, the db tier's second major (`PG15_BIN` to move them). */
const PG15_BIN = Deno.env.get("PG15_BIN") ?? "/usr/lib/postgresql/15/bin";

/**
 * The db tier on each major hosted projects run: Postgres 17 from npm (what `npm start`, the
 * integration and the browser tiers use) and Debian's Postgres 15. Both always run; the tier
 * fails when either does. `supabase db lint` needs plpgsql_check, which only Debian's 15 has
 * (npm's build ships no third-party extension), so it runs there; it must run on one of them.
 */
async function databaseTests(): Promise<TierResult> {
  if (!(await commandExists("pg_prove"))) {
    throw new MissingPrerequisite(
      "pg_prove not found (runs the pgTAP files)",
      "apt-get install -y postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl",
    );
  }
  if (!(await commandExists("psql"))) {
    throw new MissingPrerequisite(
      "psql not found (pg_prove and the re-run check use it)",
      "apt-get install -y postgresql-client-15",
    );
  }
  const targets: Array<{ name: string; binaries: () => Promise<PgBinaries>; origin: string }> = [
    { name: "pg 17", binaries: () => embeddedBinaries(), origin: "npm" },
    {
      name: "pg 15",
      binaries: async () => {
        try {
          return await systemBinaries(PG15_BIN);
        } catch {
          throw new MissingPrerequisite(
            `Postgres 15 server binaries not found in ${PG15_BIN} (the db tier runs on 15 too)`,
            "apt-get install -y postgresql-15   (or set PG15_BIN to the folder holding them)",
          );
        }
      },
      origin: "Debian",
    },
  ];
  const total: TierResult = { passed: 0, failed: 0, skipped: 0, parts: [] };
  let lintRan = false;
  for (const target of targets) {
    console.log(`\n── db on ${target.name} ──`);
    const started = performance.now();
    let label = `${target.name} (${target.origin})`;
    let result: TierResult;
    try {
      const binaries = await target.binaries();
      label = `Postgres ${binaries.version} from ${target.origin} (${
        binaries.extensionDir ? binaries.source : binaries.binDir
      })`;
      const outcome = await databaseTestsOn(binaries);
      lintRan ||= outcome.lintRan;
      result = outcome.result;
    } catch (error) {
      console.error(error instanceof MissingPrerequisite ? `\n${error.message}` : error);
      result = { passed: 0, failed: 1, skipped: 0 };
    }
    const seconds = (performance.now() - started) / 1000;
    total.parts!.push({ name: target.name, label, result, seconds });
    total.passed += result.passed;
    total.failed += result.failed;
    total.skipped += result.skipped;
  }
  if (!lintRan && total.failed === 0) {
    console.log(
      "FAILED: supabase db lint ran on no major (it needs plpgsql_check: " +
        "apt-get install -y postgresql-15-plpgsql-check)",
    );
    total.failed++;
  }
  return total;
}

/** The db tier's checks on one fresh cluster of `binaries`. */
async function databaseTestsOn(
  binaries: PgBinaries,
): Promise<{ result: TierResult; lintRan: boolean }> {
  // npm's build has no pgTAP: its SQL files come from the system's (see ensurePgTap).
  const pgTapFrom = await ensurePgTap(binaries);
  if (pgTapFrom) console.log(`pgTAP for Postgres ${binaries.major}: the SQL files of ${pgTapFrom}`);
  const dir = await makeStackTempDir("s3-image-cache-db-");
  const cluster = await startCluster({
    binaries,
    dataDir: `${dir}/data`,
    socketDir: `${dir}/sock`,
    port: freePort(),
  });
  try {
    const result = { passed: 0, failed: 0, skipped: 0 };
    const check = (ok: boolean, label: string, detail = "") => {
      console.log(ok ? `ok: ${label}` : `FAILED: ${label}${detail ? `\n${detail}` : ""}`);
      ok ? result.passed++ : result.failed++;
    };
    const version = await psql(cluster.url, "-c", "select current_setting('server_version_num')");
    check(
      Math.floor(Number(version) / 10000) === binaries.major,
      `the cluster is Postgres ${binaries.major} (server_version_num ${version})`,
    );
    await applyMigrations(cluster.url);
    // The seed's setup step was pasting the migration into the SQL editor; doing that again on
    // an up-to-date database, one file at a time, must change no definition, raise nothing, and
    // leave a rebuild whose listing matches the index with nothing to remove.
    const baseline = await rebuildKeepsSeededRows(cluster.url, dir);
    check(!baseline, "a rebuild on the migrated database keeps every listed row", `  ${baseline}`);
    const migrated = await schemaDefinitions(cluster.url);
    const files = await migrationFiles();
    for (const [index, file] of files.entries()) {
      const name = file.slice(file.lastIndexOf("/") + 1);
      await psql(cluster.url, "-f", file);
      // Released files are append-only, so a later file may replace a function this one creates
      // (…_rebuild_finish_scale.sql replaces preview and finish): re-running this file brings
      // its older form back, and the files that replaced it are re-run after it, as pasting the
      // whole set again in order would. Anything else this file changes still fails the check.
      const superseding = await supersedingFiles(
        files.slice(index + 1),
        changedDefinitions(migrated, await schemaDefinitions(cluster.url)),
      );
      for (const later of superseding) await psql(cluster.url, "-f", later);
      const changed = changedDefinitions(migrated, await schemaDefinitions(cluster.url));
      const then = superseding.map((later) => later.slice(later.lastIndexOf("/") + 1));
      check(
        changed.length === 0,
        `${name} re-run alone${
          then.length ? ` (then ${then.join(", ")}, which replace some of it)` : ""
        } on a migrated database changes no function or view`,
        `  changed: ${changed.join(", ")}`,
      );
      const lost = await rebuildKeepsSeededRows(cluster.url, dir);
      check(!lost, `after re-running ${name}, a rebuild keeps every listed row`, `  ${lost}`);
    }

    // The pgTAP files start from a freshly migrated database, as on a new project.
    await psql(
      cluster.url,
      "-c",
      "delete from public.s3_image_cache where filename like 'rerun-%'",
      "-c",
      "delete from public.s3_cache_rebuilds where started_by = 'db tier'",
    );

    const hasPlpgsqlCheck = await psql(
      cluster.url,
      "-c",
      "select count(*) from pg_available_extensions where name = 'plpgsql_check'",
    ) !== "0";
    if (hasPlpgsqlCheck) {
      const lint = await run(
        [
          SUPABASE,
          "db",
          "lint",
          "--db-url",
          cluster.url,
          "--level",
          "warning",
          "--fail-on",
          "warning",
        ],
        { allowFailure: true, cwd: REPO_ROOT, env: { DO_NOT_TRACK: "1" } },
      );
      const lintOutput = `${lint.stdout}${lint.stderr}`;
      const lintClean = lint.code === 0 && !/"level":\s*"(warning|error)"/.test(lintOutput);
      check(lintClean, "supabase db lint is clean", lintOutput);
    } else {
      console.log(
        `skipped: supabase db lint on Postgres ${binaries.major} (it needs plpgsql_check, ` +
          "which this build lacks; it runs on the other major)",
      );
      result.skipped++;
    }

    // The corpus reaches pgTAP as a generated file (see filenames_pgtap.ts for why).
    const corpusPgTap = renderCorpusPgTap(await readFilenameCorpus());
    check(
      corpusPgTap === await Deno.readTextFile(CORPUS_PGTAP_URL).catch(() => ""),
      "supabase/tests/08_filename_corpus.test.sql is up to date with tests/corpus/filenames.tsv",
      "  regenerate it: node_modules/.bin/deno run -A tests/corpus/filenames_pgtap.ts",
    );

    const tests = [];
    for await (const entry of Deno.readDir(`${REPO_ROOT}supabase/tests`)) {
      if (entry.name.endsWith(".test.sql")) tests.push(`supabase/tests/${entry.name}`);
    }
    if (tests.length === 0) throw new Error("No pgTAP files in supabase/tests");
    const prove = await stream(["pg_prove", "-d", cluster.url, ...tests.sort()]);
    const proved = parsePgProveSummary(prove.text, prove.code);
    return {
      result: {
        passed: result.passed + proved.passed,
        failed: result.failed + proved.failed,
        skipped: result.skipped + proved.skipped,
      },
      lintRan: hasPlpgsqlCheck,
    };
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Function settings for the test stacks: a short rebuild lease, so a test that kills a worker
 * mid-job sees the job picked up again within seconds instead of the production 90 s; and
 * budgets that ignore `process.cpuUsage`, as on hosted Supabase, whose runtime has none.
 */
const TEST_FUNCTION_ENV: Record<string, string> = {
  REBUILD_LEASE_SECONDS: "3",
  REBUILD_BUDGET_CLOCKS: "wall,work",
};

/** The stack's stalled-job scheduler in tests: every 2 s instead of pg_cron's minute. */
const TEST_RESUME_INTERVAL_MS = 2_000;

/**
 * `TEST_FILTER=<text or /regex/>` runs only the integration or browser tests whose names match
 * (Deno's `--filter`): one test against a fresh stack while you work on it.
 */
function filterFlags(): string[] {
  const filter = Deno.env.get("TEST_FILTER");
  return filter ? ["--filter", filter] : [];
}

/** Starts an isolated stack, runs `paths` against it, and always stops it. */
async function againstIsolatedStack(
  paths: string[],
  env: Record<string, string> = {},
  stack: Pick<StackOptions, "faultProxies" | "authSigning" | "bucketEvents"> = {},
): Promise<TierResult> {
  return await withIsolatedStack(
    (info, stateDir) =>
      denoTest(
        paths,
        { ...env, STACK_INFO: JSON.stringify(info), STACK_STATE_DIR: stateDir },
        filterFlags(),
      ),
    { functionEnv: TEST_FUNCTION_ENV, resumeIntervalMs: TEST_RESUME_INTERVAL_MS, ...stack },
  );
}

/**
 * The auth and role matrix, run a second time against a stack playing a project still on the
 * legacy JWT secret (HS256 user tokens, the secret injected as an `oct` key): hosted has both
 * kinds, and the first run covers the signing-keys kind.
 */
const PROJECT_KIND_TESTS = [
  "tests/integration/auth_test.ts",
  "tests/integration/roles_test.ts",
  "tests/integration/project_kinds_test.ts",
];

async function integrationTests(): Promise<TierResult> {
  // The functions reach S3 and Postgres through fault proxies (tests/support/faults.ts).
  // The emulator announces keys under LIVE_SYNC_PREFIX only (tests/integration/live_sync_test.ts):
  // every other test puts objects behind the index's back on purpose.
  const keys = await againstIsolatedStack(["tests/integration"], {}, {
    faultProxies: true,
    bucketEvents: { prefix: LIVE_SYNC_PREFIX },
  });
  if (keys.failed > 0) return keys;
  console.log(
    "\n── the same auth and role tests on a legacy-secret project (AUTH_SIGNING=legacy) ──",
  );
  const legacy = await againstIsolatedStack(PROJECT_KIND_TESTS, {}, { authSigning: "legacy" });
  return {
    passed: keys.passed + legacy.passed,
    failed: keys.failed + legacy.failed,
    skipped: keys.skipped + legacy.skipped,
  };
}

async function browserTests(): Promise<TierResult> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new MissingPrerequisite(
      `Chromium not found at ${CHROMIUM} (the browser tests drive it)`,
      "apt-get install -y chromium   (or set CHROMIUM_PATH)",
    );
  }
  return await againstIsolatedStack(["tests/e2e"], { CHROMIUM_PATH: CHROMIUM });
}

async function main(): Promise<number> {
  const requested = Deno.args.length ? Deno.args : Object.keys(TIERS);
  const unknown = requested.filter((name) => !(name in TIERS));
  if (unknown.length) {
    console.error(
      `Unknown tier(s): ${unknown.join(", ")}. Tiers: ${Object.keys(TIERS).join(", ")}`,
    );
    return 2;
  }
  const totals = { passed: 0, failed: 0, skipped: 0 };
  const rows: string[] = [];
  let failedTier: string | undefined;
  for (const name of requested) {
    console.log(`\n━━ ${name} ━━`);
    const started = performance.now();
    let result: TierResult;
    try {
      result = await TIERS[name]();
    } catch (error) {
      console.error(error instanceof MissingPrerequisite ? `\n${error.message}` : error);
      result = { passed: 0, failed: 1, skipped: 0 };
    }
    const seconds = (performance.now() - started) / 1000;
    totals.passed += result.passed;
    totals.failed += result.failed;
    totals.skipped += result.skipped;
    rows.push(summaryRow(name, result, seconds));
    for (const part of result.parts ?? []) {
      rows.push(summaryRow(part.name, part.result, part.seconds, part));
    }
    if (result.failed > 0 || result.passed === 0) {
      failedTier = name;
      if (result.passed === 0 && result.failed === 0) {
        console.error(`Tier ${name} ran no test.`);
        totals.failed++;
      }
      break;
    }
  }
  console.log("\nSummary by tier:");
  console.log(rows.join("\n"));
  if (failedTier) console.log(`Stopped at tier "${failedTier}".`);
  console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  return failedTier ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
