/**
 * `bench/REPORT.json` and `bench/REPORT.md` from one `npm run bench`, and the README's table
 * from them: every figure beside its baseline measured in the same run, the spread over rounds,
 * the goal and whether this run met it, the machine's core count and the date. The README shows
 * what the last report measured (between the `bench:start`/`bench:end` markers), never a best run.
 *
 * @module
 */
import type { BenchRow } from "./report.ts";

/** One headline figure of the report. */
export interface Figure {
  value: number;
  unit: string;
  baseline?: number;
  measured?: number;
  spread?: [number, number];
  goal?: string;
  met?: boolean;
  name: string;
}

/** What `bench/REPORT.json` holds. */
export interface BenchReport {
  date: string;
  machine: { cores: number; memory_gib: number; os: string };
  rebuild_vs_list_ratio?: Figure & { by_objects: Record<string, Figure> };
  upload_vs_put_ratio?: Figure;
  upload_p99_ratio?: Figure;
  upload_memory_ratio?: Figure;
  staging_vs_copy_ratio?: Figure;
  rebuild_memory_ratio?: Figure;
  load?: Record<string, number | boolean>;
  /** `npm run bench -- scale` (scale_bench.ts): its `scale.*` keys without the prefix. */
  scale?: Record<string, Figure>;
  upload_vs_put_ratio_aws?: Figure;
  /** When a benchmark's rows were measured, where not at `date` (a merged partial run's). */
  measured_at?: Record<string, string>;
  /** Live sync (events_bench.ts): `p50_ms`, `p99_ms`, `lost`. */
  events?: Record<string, number>;
  benchmarks: Record<string, BenchRow[]>;
}

function figure(row: BenchRow): Figure {
  const hasRatio = row.ratio !== undefined;
  return {
    name: row.name,
    value: hasRatio ? row.ratio! : row.value,
    unit: hasRatio ? "ratio" : row.unit,
    ...(hasRatio ? { measured: row.value, baseline: row.baseline } : {}),
    ...(row.spread ? { spread: row.spread } : {}),
    ...(row.goal ? { goal: row.goal.text, met: row.goal.met } : {}),
  };
}

/** Builds the report from each benchmark's rows. */
export function buildReport(
  benchmarks: Record<string, BenchRow[]>,
  now = new Date(),
): BenchReport {
  const rows = Object.values(benchmarks).flat();
  const byKey = (key: string) => rows.find((row) => row.key === key);
  const report: BenchReport = {
    date: now.toISOString(),
    machine: {
      cores: navigator.hardwareConcurrency,
      memory_gib: Math.round(Deno.systemMemoryInfo().total / 1024 ** 3),
      os: `${Deno.build.os} ${Deno.osRelease()}`,
    },
    benchmarks,
  };
  const rebuilds = rows.filter((row) => row.key?.startsWith("rebuild_vs_list_ratio@"));
  if (rebuilds.length) {
    // The worst over the bucket sizes measured: a goal met at 20k but missed at 5k is missed.
    const worst = rebuilds.reduce((a, b) => ((b.ratio ?? 0) > (a.ratio ?? 0) ? b : a));
    report.rebuild_vs_list_ratio = {
      ...figure(worst),
      met: rebuilds.every((row) => row.goal?.met !== false),
      by_objects: Object.fromEntries(
        rebuilds.map((row) => [row.key!.split("@")[1], figure(row)]),
      ),
    };
  }
  for (
    const key of [
      "upload_vs_put_ratio",
      "upload_p99_ratio",
      "upload_memory_ratio",
      "staging_vs_copy_ratio",
      "rebuild_memory_ratio",
      "upload_vs_put_ratio_aws",
    ] as const
  ) {
    const row = byKey(key);
    if (row) report[key] = figure(row);
  }
  const scale = rows.filter((row) => row.key?.startsWith("scale."));
  if (scale.length) {
    report.scale = Object.fromEntries(
      scale.map((row) => [row.key!.slice("scale.".length), figure(row)]),
    );
  }
  const load = rows.filter((row) => row.key?.startsWith("load."));
  if (load.length) {
    report.load = Object.fromEntries(load.map((row) => {
      const name = row.key!.slice("load.".length);
      return [name, name === "index_shrank" ? row.value !== 0 : row.value];
    }));
  }
  const events = rows.filter((row) => row.key?.startsWith("events."));
  if (events.length) {
    report.events = Object.fromEntries(
      events.map((row) => [row.key!.slice("events.".length), row.value]),
    );
  }
  return report;
}

/**
 * The report after a partial run that merges (`npm run bench -- scale`): the existing report's
 * benchmarks with this run's replacing their namesakes, every figure rebuilt from those rows;
 * `measured_at` keeps when each older benchmark ran. Without an existing report, this run's.
 */
export function mergeReport(
  existing: BenchReport | undefined,
  benchmarks: Record<string, BenchRow[]>,
  now = new Date(),
): BenchReport {
  if (!existing) return buildReport(benchmarks, now);
  const report = buildReport({ ...existing.benchmarks, ...benchmarks }, now);
  const measuredAt: Record<string, string> = {};
  for (const name of Object.keys(existing.benchmarks)) {
    if (!(name in benchmarks)) measuredAt[name] = existing.measured_at?.[name] ?? existing.date;
  }
  if (Object.keys(measuredAt).length) report.measured_at = measuredAt;
  return report;
}

const cell = (value: unknown) => String(value ?? "").replace(/\|/g, "\\|");

/** The headline table (Markdown): goal, measured, baseline, spread, met. */
export function headlineTable(report: BenchReport): string {
  const lines = [
    "| target | goal | ratio (median) | spread over rounds | measured / baseline | met |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  const add = (label: string, f: Figure | undefined) => {
    if (!f) return;
    lines.push(
      `| ${cell(label)} | ${cell(f.goal ?? "")} | ${f.value} | ${
        f.spread ? `${f.spread[0]}–${f.spread[1]}` : ""
      } | ${f.measured ?? ""}${f.baseline !== undefined ? ` / ${f.baseline}` : ""} | ${
        f.met === undefined ? "" : f.met ? "yes" : "**no**"
      } |`,
    );
  };
  if (report.rebuild_vs_list_ratio) {
    for (const [objects, f] of Object.entries(report.rebuild_vs_list_ratio.by_objects)) {
      add(`rebuild of ${Number(objects).toLocaleString("en")} objects ÷ a bare listing`, f);
    }
  }
  add(
    "upload 1 MiB, concurrency 8, function ÷ direct PutObject (wall)",
    report.upload_vs_put_ratio,
  );
  add("upload p99 ÷ direct PutObject p99", report.upload_p99_ratio);
  add("upload isolate memory per request in flight ÷ file size", report.upload_memory_ratio);
  add("staging 100k keys, rows/s ÷ a raw COPY", report.staging_vs_copy_ratio);
  add("rebuild worker memory, 20k ÷ 5k objects", report.rebuild_memory_ratio);
  add(
    "upload, both sides through the aws latency profile (S3_LATENCY=aws)",
    report.upload_vs_put_ratio_aws,
  );
  for (const f of Object.values(report.scale ?? {})) add(`scale: ${f.name}`, f);
  if (report.load) {
    const l = report.load;
    lines.push(
      `| load: 500 uploads, 16 clients, rebuilds running | 0 lost, 0 5xx, never shrank | ${l.uploads_per_s} uploads/s | p50 ${l.p50_ms} ms, p99 ${l.p99_ms} ms | lost ${l.lost_uploads}, 5xx ${l.responses_5xx}, shrank ${l.index_shrank} | ${
        l.lost_uploads === 0 && l.responses_5xx === 0 && l.index_shrank === false ? "yes" : "**no**"
      } |`,
    );
  }
  if (report.events) {
    const e = report.events;
    lines.push(
      `| live sync: 200 S3 puts/deletes a second for 30 s → index | p99 ≤ 1000 ms, 0 lost | p99 ${e.p99_ms} ms | p50 ${e.p50_ms} ms | lost ${e.lost} | ${
        e.p99_ms <= 1000 && e.lost === 0 ? "yes" : "**no**"
      } |`,
    );
  }
  return lines.join("\n");
}

/** For each goal this run missed: the rows that say where its time goes (`why:<key>`). */
function whereTheTimeGoes(report: BenchReport): string[] {
  const rows = Object.values(report.benchmarks).flat();
  const missed = (
    [
      "rebuild_vs_list_ratio",
      "upload_vs_put_ratio",
      "upload_p99_ratio",
      "upload_memory_ratio",
      "staging_vs_copy_ratio",
      "rebuild_memory_ratio",
    ] as const
  ).filter((key) => report[key]?.met === false);
  if (!missed.length) return [];
  const lines = ["## Missed goals: where the time goes", ""];
  for (const key of missed) {
    const figure = report[key]!;
    lines.push(`- **${key}** ${figure.value} (goal ${figure.goal}): ${figure.name}.`);
    const base = key === "upload_p99_ratio" ? "upload_vs_put_ratio" : key;
    for (const why of rows.filter((row) => row.key === `why:${base}`)) {
      lines.push(`  - ${why.name}: ${why.value} ${why.unit}${why.note ? ` — ${why.note}` : ""}`);
    }
  }
  lines.push("");
  return lines;
}

/** The whole `bench/REPORT.md`. */
export function reportMarkdown(report: BenchReport): string {
  const all = Object.entries(report.benchmarks).flatMap(([bench, rows]) =>
    rows.map((row) =>
      `| ${bench} | ${cell(row.name)} | ${row.value} ${cell(row.unit)} | ${row.baseline ?? ""} | ${
        row.ratio ?? ""
      } | ${row.spread ? `${row.spread[0]}–${row.spread[1]}` : ""} | ${cell(row.note ?? "")} |`
    )
  );
  return [
    "# Benchmark report",
    "",
    `Measured ${report.date} on ${report.machine.cores} cores, ${report.machine.memory_gib} GiB ` +
    `(${report.machine.os}) by \`npm run bench\`. Ratios compare with a baseline measured in the ` +
    "same run; the spread is the lowest and highest round. This file is rewritten by every run.",
    ...(report.measured_at
      ? [
        "",
        `Merged by a partial run (\`npm run bench -- scale\`); measured earlier: ${
          Object.entries(report.measured_at).map(([name, at]) => `${name} ${at}`).join(", ")
        }.`,
      ]
      : []),
    "",
    "## Goals",
    "",
    headlineTable(report),
    "",
    ...whereTheTimeGoes(report),
    "## Every row",
    "",
    "| benchmark | what | value | baseline | ratio | spread | note |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...all,
    "",
  ].join("\n");
}

/** Replaces the README's text between `<!-- bench:start -->` and `<!-- bench:end -->`. */
export function withReadmeTable(readme: string, report: BenchReport): string {
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a === -1 || b === -1 || b < a) return readme;
  // A merged partial run says which benchmarks are older than its date.
  const older = Object.entries(report.measured_at ?? {})
    .map(([name, at]) => `${name} ${at.slice(0, 10)}`).join(", ");
  const body =
    `\nLast \`npm run bench\`: ${report.date.slice(0, 10)}, ${report.machine.cores} cores` +
    (older ? `; rows of earlier runs: ${older}` : "") +
    ` (bench/REPORT.md has every row).\n\n${headlineTable(report)}\n`;
  return readme.slice(0, a + start.length) + body + readme.slice(b);
}
