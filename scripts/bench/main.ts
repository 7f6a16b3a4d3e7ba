/**
 * `npm run bench [-- db upload rebuild load scale events]`: runs each benchmark in its own process (each
 * starts its own throw-away cluster or stack, so one cannot disturb another's data), then prints
 * every row in one table and one JSON line. A full run (no names) writes `bench/REPORT.json`,
 * `bench/REPORT.md` and the README's table (see bench_report.ts). A partial run
 * merges what it ran into all three; the report notes when each other benchmark was measured.
 *
 * @module
 */
import { REPO_ROOT } from "../stack/migrations.ts";
import {
  type BenchReport,
  buildReport,
  mergeReport,
  reportMarkdown,
  withReadmeTable,
} from "./bench_report.ts";
import { type BenchRow, formatTable, parseReportLine } from "./report.ts";

const BENCHMARKS: Record<string, string> = {
  db: "db_bench.ts",
  upload: "upload_bench.ts",
  rebuild: "rebuild_bench.ts",
  load: "load_bench.ts",
  scale: "scale_bench.ts",
  events: "events_bench.ts",
};

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function runOne(name: string): Promise<BenchRow[]> {
  const file = `${REPO_ROOT}scripts/bench/${BENCHMARKS[name]}`;
  const child = new Deno.Command(`${REPO_ROOT}node_modules/.bin/deno`, {
    args: ["run", "-A", file],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    const text = decoder.decode(chunk, { stream: true });
    output += text;
    await Deno.stdout.write(chunk);
  }
  const { code } = await child.status;
  const report = parseReportLine(output);
  if (!report) throw new Error(`benchmark ${name} failed (exit ${code})`);
  // The load run reports its figures even when a check failed: the report must show it.
  if (code !== 0) console.error(`benchmark ${name} exited ${code}; its figures are reported`);
  return report.rows;
}

const requested = Deno.args.length ? Deno.args : Object.keys(BENCHMARKS);
const results: Record<string, BenchRow[]> = {};
let failed = false;
for (const name of requested) {
  if (!(name in BENCHMARKS)) {
    console.error(`Unknown benchmark "${name}". Known: ${Object.keys(BENCHMARKS).join(", ")}`);
    Deno.exit(2);
  }
  if (!(await exists(`${REPO_ROOT}scripts/bench/${BENCHMARKS[name]}`))) {
    console.error(`Benchmark "${name}" is not written yet; skipped.`);
    continue;
  }
  console.log(`\n━━ ${name} ━━`);
  try {
    results[name] = await runOne(name);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    failed = true;
  }
}
console.log("\nAll benchmarks:");
console.log(formatTable(Object.values(results).flat()));
console.log(JSON.stringify({ benchmarks: results }));
if (!failed && Object.keys(results).length) {
  // A full run is the report. A partial one (`npm run bench -- scale events`) merges what it ran
  // into the last report, which notes when each other benchmark was measured (`measured_at`), so
  // the report and the README's table always show the last measurement of everything.
  const path = `${REPO_ROOT}bench/REPORT.json`;
  const existing = Deno.args.length === 0 ? undefined : await Deno.readTextFile(path).then(
    (text) => JSON.parse(text) as BenchReport,
    () => undefined,
  );
  const report = Deno.args.length === 0 ? buildReport(results) : mergeReport(existing, results);
  await Deno.mkdir(`${REPO_ROOT}bench`, { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(report, null, 2) + "\n");
  await Deno.writeTextFile(`${REPO_ROOT}bench/REPORT.md`, reportMarkdown(report));
  const readme = await Deno.readTextFile(`${REPO_ROOT}README.md`);
  await Deno.writeTextFile(`${REPO_ROOT}README.md`, withReadmeTable(readme, report));
  // Written as the repository's formatter would, so `deno fmt --check` stays clean.
  await new Deno.Command(`${REPO_ROOT}node_modules/.bin/deno`, {
    args: ["fmt", "-q", "README.md", "bench/"],
    cwd: REPO_ROOT,
  }).output();
  console.log(
    Deno.args.length === 0
      ? "Wrote bench/REPORT.json, bench/REPORT.md and the README's table."
      : `Merged ${
        Object.keys(results).join(", ")
      } into bench/REPORT.json, REPORT.md and the README's table.`,
  );
}
Deno.exit(failed ? 1 : 0);
