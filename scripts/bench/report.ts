/**
 * How every benchmark reports: rows of measured values, each beside the physical limit measured
 * in the same run, printed as a table and as one JSON line (`{"benchmark": name, "rows": […]}`)
 * that `scripts/bench/main.ts` collects.
 *
 * @module
 */

/** One measured number, optionally beside the limit it is judged against. */
export interface BenchRow {
  /** What was measured, e.g. `staging rows/s (stage_page, 1,000-key pages)`. */
  name: string;
  /** The measurement. */
  value: number;
  /** Unit of `value` and `baseline`, e.g. `rows/s` or `ms`. */
  unit: string;
  /** The physical limit measured in the same run, in the same unit. */
  baseline?: number;
  /** `value / baseline`. */
  ratio?: number;
  /** How to read the number. */
  note?: string;
  /**
   * The report's name for this figure (`upload_vs_put_ratio`, `rebuild_vs_list_ratio`,
   * `staging_vs_copy_ratio`, `load.p99_ms`, …): `bench/REPORT.json` is built from these.
   */
  key?: string;
  /** The ratio's (or the value's, without a ratio) lowest and highest round. */
  spread?: [number, number];
  /** The goal, as a sentence the report shows (`≤ 1.3`), and whether this run met it. */
  goal?: { text: string; met: boolean };
}

/** `[min, max]` of `values`, rounded. */
export function spreadOf(values: number[], digits = 2): [number, number] {
  const factor = 10 ** digits;
  const r = (v: number) => Math.round(v * factor) / factor;
  return [r(Math.min(...values)), r(Math.max(...values))];
}

/** The rows as an aligned text table. */
export function formatTable(rows: BenchRow[]): string {
  const header = ["benchmark", "value", "unit", "baseline", "ratio", "note"];
  const cells = rows.map((row) => [
    row.name,
    String(row.value),
    row.unit,
    row.baseline === undefined ? "" : String(row.baseline),
    row.ratio === undefined ? "" : String(row.ratio),
    row.note ?? "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** Prints the table, then the JSON line `main.ts` reads. */
export function printReport(benchmark: string, rows: BenchRow[]): void {
  console.log(formatTable(rows));
  console.log(JSON.stringify({ benchmark, rows }));
}

/** The JSON report line of one benchmark's output, or undefined. */
export function parseReportLine(
  output: string,
): { benchmark: string; rows: BenchRow[] } | undefined {
  const line = output.split("\n").reverse().find((l) => l.startsWith('{"benchmark"'));
  return line ? JSON.parse(line) : undefined;
}

/** The number given as `--name=N` on the command line, or undefined. */
export function numericFlag(name: string, args: string[] = Deno.args): number | undefined {
  const found = args.find((arg) => arg.startsWith(`--${name}=`));
  return found ? Number(found.slice(name.length + 3)) : undefined;
}

/** The `p`th percentile (nearest rank) of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

/** The median of `values` (the upper one of an even count); `values` is left as it was. */
export function median(values: number[]): number {
  return values.toSorted((a, b) => a - b)[values.length >> 1];
}
