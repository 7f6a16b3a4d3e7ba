import assert from "node:assert/strict";
import { parseDenoTestSummary, parsePgProveSummary, summaryRow } from "./test.ts";

Deno.test("parseDenoTestSummary() reads passed, failed and ignored counts", () => {
  assert.deepEqual(
    parseDenoTestSummary("x\n\x1b[32mok\x1b[0m | 12 passed | 0 failed | 2 ignored (3s)\n"),
    {
      passed: 12,
      failed: 0,
      skipped: 2,
    },
  );
  assert.deepEqual(parseDenoTestSummary("FAILED | 4 passed | 1 failed (1s)"), {
    passed: 4,
    failed: 1,
    skipped: 0,
  });
  assert.equal(parseDenoTestSummary("error: Module not found"), undefined);
});

Deno.test("parsePgProveSummary() counts failures and treats a dead file as a failure", () => {
  const failing = "t.sql .. Failed 2/10 subtests\nFiles=1, Tests=10\nResult: FAIL";
  assert.deepEqual(parsePgProveSummary(failing, 1), { passed: 8, failed: 2, skipped: 0 });
  assert.deepEqual(parsePgProveSummary("All tests successful.\nFiles=2, Tests=40\n", 0), {
    passed: 40,
    failed: 0,
    skipped: 0,
  });
  assert.equal(parsePgProveSummary("Dubious, test returned 255\nFiles=1, Tests=0", 1).failed, 1);
});

Deno.test("summaryRow() lines up a tier and, indented with what it ran on, each of its parts", () => {
  const counts = { passed: 582, failed: 0, skipped: 1 };
  assert.equal(
    summaryRow("db", { passed: 1165, failed: 0, skipped: 1 }, 8.54),
    "  db           1165 passed   0 failed   1 skipped  8.5s",
  );
  assert.equal(
    summaryRow("pg 17", counts, 3.6, { label: "Postgres 17.10 from npm" }),
    "    pg 17       582 passed   0 failed   1 skipped  3.6s  Postgres 17.10 from npm",
  );
});
