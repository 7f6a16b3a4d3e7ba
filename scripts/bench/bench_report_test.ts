import assert from "node:assert/strict";
import { buildReport, mergeReport, reportMarkdown, withReadmeTable } from "./bench_report.ts";
import type { BenchRow } from "./report.ts";

const rebuildRow = (objects: number, ratio: number): BenchRow => ({
  name: `rebuild ${objects}`,
  value: 100 * ratio,
  unit: "ms",
  baseline: 100,
  ratio,
  spread: [ratio - 0.05, ratio + 0.05],
  key: `rebuild_vs_list_ratio@${objects}`,
  goal: { text: "≤ 1.15", met: ratio <= 1.15 },
});

Deno.test("buildReport() reports the worst rebuild ratio over the sizes, and misses if any size does", () => {
  const report = buildReport({ rebuild: [rebuildRow(5000, 1.22), rebuildRow(20000, 1.07)] });
  assert.equal(report.rebuild_vs_list_ratio?.value, 1.22);
  assert.equal(report.rebuild_vs_list_ratio?.met, false);
  assert.deepEqual(Object.keys(report.rebuild_vs_list_ratio!.by_objects), ["5000", "20000"]);
  assert.ok(report.machine.cores >= 1);
});

Deno.test("buildReport() turns load rows into the load object, index_shrank as a boolean", () => {
  const report = buildReport({
    load: [
      { key: "load.lost_uploads", name: "lost", value: 0, unit: "uploads" },
      { key: "load.index_shrank", name: "shrank", value: 1, unit: "bool" },
      { key: "load.p99_ms", name: "p99", value: 210.5, unit: "ms" },
    ],
  });
  assert.deepEqual(report.load, { lost_uploads: 0, index_shrank: true, p99_ms: 210.5 });
});

Deno.test("buildReport() turns events rows into the events object and a goal line", () => {
  const report = buildReport({
    events: [
      { key: "events.p50_ms", name: "p50", value: 41.5, unit: "ms" },
      { key: "events.p99_ms", name: "p99", value: 1200, unit: "ms" },
      { key: "events.lost", name: "lost", value: 0, unit: "keys" },
    ],
  });
  assert.deepEqual(report.events, { p50_ms: 41.5, p99_ms: 1200, lost: 0 });
  assert.match(
    withReadmeTable("<!-- bench:start --><!-- bench:end -->", report),
    /live sync: .* \| p99 1200 ms \| p50 41\.5 ms \| lost 0 \| \*\*no\*\* \|/,
  );
});

Deno.test("withReadmeTable() rewrites only the text between the bench markers", () => {
  const report = buildReport({ rebuild: [rebuildRow(5000, 1.1)] });
  const readme = "intro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\noutro\n";
  const updated = withReadmeTable(readme, report);
  assert.ok(updated.startsWith("intro\n<!-- bench:start -->"));
  assert.ok(updated.endsWith("<!-- bench:end -->\noutro\n"));
  assert.ok(!updated.includes("old table"));
  assert.match(
    updated,
    /rebuild of 5,000 objects ÷ a bare listing \| ≤ 1\.15 \| 1\.1 \| 1\.05–1\.15/,
  );
  assert.equal(withReadmeTable("no markers", report), "no markers");
});

const scaleRow = (key: string, ratio: number): BenchRow => ({
  name: `scale ${key}`,
  value: 1000 * ratio,
  unit: "ms",
  baseline: 1000,
  ratio,
  spread: [ratio - 0.01, ratio + 0.01],
  key,
  goal: { text: "≤ 0.3", met: ratio <= 0.3 },
});

Deno.test("mergeReport() adds a scale run's keys to the existing report and keeps its other figures", () => {
  const earlier = buildReport(
    { rebuild: [rebuildRow(5000, 1.1)] },
    new Date("2026-12-01T00:00:00Z"),
  );
  const merged = mergeReport(earlier, {
    scale: [
      scaleRow("scale.rebuild_vs_sequential_listing_100k", 0.98),
      { ...scaleRow("upload_vs_put_ratio_aws", 1.04), goal: { text: "≤ 1.15", met: true } },
    ],
  }, new Date("2026-12-06T00:00:00Z"));
  assert.equal(merged.rebuild_vs_list_ratio?.value, 1.1, "the earlier figure stays");
  assert.equal(merged.scale?.rebuild_vs_sequential_listing_100k.value, 0.98);
  assert.equal(merged.scale?.rebuild_vs_sequential_listing_100k.met, false);
  assert.equal(merged.upload_vs_put_ratio_aws?.value, 1.04);
  assert.deepEqual(Object.keys(merged.benchmarks), ["rebuild", "scale"]);
  assert.deepEqual(merged.measured_at, { rebuild: "2026-12-01T00:00:00.000Z" });
  const markdown = reportMarkdown(merged);
  assert.match(markdown, /measured earlier: rebuild 2026-12-01/);
  // The README's table says which of its rows come from an earlier run.
  assert.match(
    withReadmeTable("<!-- bench:start --><!-- bench:end -->", merged),
    /Last `npm run bench`: 2026-12-06, \d+ cores; rows of earlier runs: rebuild 2026-12-01 \(/,
  );
  assert.match(
    markdown,
    /\| scale: scale scale\.rebuild_vs_sequential_listing_100k \| ≤ 0\.3 \| 0\.98 \|/,
  );
  // A second scale run replaces the first one's rows.
  const again = mergeReport(merged, {
    scale: [scaleRow("scale.rebuild_vs_sequential_listing_100k", 0.25)],
  });
  assert.equal(again.scale?.rebuild_vs_sequential_listing_100k.met, true);
  assert.equal(again.upload_vs_put_ratio_aws, undefined);
  assert.deepEqual(again.measured_at, { rebuild: "2026-12-01T00:00:00.000Z" });
});

Deno.test("mergeReport() without an existing report is this run's report", () => {
  const report = mergeReport(undefined, {
    scale: [scaleRow("scale.rebuild_vs_sequential_listing_1m", 0.15)],
  });
  assert.deepEqual(Object.keys(report.scale ?? {}), ["rebuild_vs_sequential_listing_1m"]);
  assert.equal(report.measured_at, undefined);
});
