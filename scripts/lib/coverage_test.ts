import assert from "node:assert/strict";
import { formatCoverage, isCountedSource, parseLcov, summarizeCoverage } from "./coverage.ts";

const LCOV = [
  "SF:/repo/supabase/functions/a.ts",
  "DA:1,1",
  "DA:2,0",
  "DA:3,4",
  "end_of_record",
  "SF:/repo/supabase/functions/b.ts",
  "DA:1,0",
  "end_of_record",
].join("\n");

Deno.test("parseLcov() counts code lines and the lines that ran, per file", () => {
  assert.deepEqual([...parseLcov(LCOV)], [
    ["/repo/supabase/functions/a.ts", { found: 3, hit: 2 }],
    ["/repo/supabase/functions/b.ts", { found: 1, hit: 0 }],
  ]);
});

Deno.test("summarizeCoverage() counts a file no test loads as 0%, even if importing ran it", () => {
  const summary = summarizeCoverage(
    ["supabase/functions/a.ts", "supabase/functions/b.ts", "supabase/functions/c.ts"],
    parseLcov(LCOV),
    new Map([["/repo/supabase/functions/c.ts", { found: 6, hit: 6 }]]),
    "/repo",
  );
  assert.equal(summary.found, 10);
  assert.equal(summary.hit, 2);
  assert.equal(summary.percent, 20);
  assert.deepEqual(summary.files.at(-1), {
    path: "supabase/functions/c.ts",
    found: 6,
    hit: 0,
    loaded: false,
  });
  const [headline, worst] = formatCoverage(summary, { tree: "supabase/functions" });
  assert.match(headline, /^coverage: 20\.0% of lines in supabase\/functions \(2\/10; 3 files, 1 /);
  assert.match(worst, /0\.0% +6 lines not run +supabase\/functions\/c\.ts +\(no unit test/);
});

Deno.test("formatCoverage() never rounds a figure just under the goal up to it", () => {
  const summary = summarizeCoverage(
    ["a.ts"],
    new Map([["/r/a.ts", { found: 10000, hit: 8499 }]]),
    new Map(),
    "/r",
  );
  assert.match(formatCoverage(summary, { tree: "t" })[0], /coverage: 84\.9%/);
});

Deno.test("isCountedSource() leaves out tests and test data", () => {
  assert.equal(isCountedSource("supabase/functions/x/handler.ts"), true);
  assert.equal(isCountedSource("supabase/functions/x/handler_test.ts"), false);
  assert.equal(isCountedSource("supabase/functions/x/testdata/f.ts"), false);
  assert.equal(isCountedSource("supabase/functions/import_map.json"), false);
});
