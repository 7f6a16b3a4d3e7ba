/**
 * `npm run bench [-- db upload rebuild]`: runs each benchmark in its own process (each starts
 * its own throw-away cluster or stack, so one cannot disturb another's data), then prints every
 * row in one table and one JSON line.
 *
 * @module
 */
import { REPO_ROOT } from "../stack/migrations.ts";
import { type BenchRow, formatTable, parseReportLine } from "./report.ts";

const BENCHMARKS: Record<string, string> = {
  db: "db_bench.ts",
  upload: "upload_bench.ts",
  rebuild: "rebuild_bench.ts",
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
  if (code !== 0 || !report) throw new Error(`benchmark ${name} failed (exit ${code})`);
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
Deno.exit(failed ? 1 : 0);
