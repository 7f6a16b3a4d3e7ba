import assert from "node:assert/strict";
import process from "node:process";
import {
  type BudgetClock,
  CpuShares,
  processCpuClock,
  startBudget,
  systemClock,
} from "./budget.ts";
import { asHosted } from "./testdata/hosted_process.ts";

function fakeClock(withCpu = true) {
  const now = { cpu: 0, wall: 0 };
  const clock: BudgetClock = withCpu
    ? { cpuMs: () => now.cpu, wallMs: () => now.wall }
    : { wallMs: () => now.wall };
  return { now, clock };
}

Deno.test("startBudget() measures what was spent since it started, on every clock", () => {
  const { now, clock } = fakeClock();
  now.cpu = 100;
  now.wall = 1000;
  const budget = startBudget({ cpuMs: 500, wallMs: 5000 }, clock);
  now.cpu = 130;
  now.wall = 1400;
  budget.unitDone({ pages: 1, keys: 1000 });
  assert.deepEqual(budget.spent(), { cpuMs: 30, wallMs: 400, pages: 1, keys: 1000 });
  assert.deepEqual(budget.clocks, ["cpu", "wall", "work"]);
});

Deno.test("startBudget() refuses another unit once the largest would overrun the CPU limit", () => {
  const { now, clock } = fakeClock();
  const budget = startBudget({ cpuMs: 100, wallMs: 10_000 }, clock);
  const units: number[] = [];
  for (const cost of [20, 35, 10, 30, 30]) {
    now.cpu += cost;
    now.wall += 1;
    budget.unitDone();
    units.push(cost);
    if (!budget.roomForAnotherUnit()) break;
  }
  // 20 + 35 = 55; 55 + 35 (largest) fits; after 65 the next largest (35) would reach 100: fits;
  // after 95 it would not.
  assert.deepEqual(units, [20, 35, 10, 30]);
  assert.ok(budget.spent().cpuMs! <= 100);
  assert.deepEqual(budget.largestUnit(), { cpuMs: 35, wallMs: 1, pages: 1, keys: 0 });
});

Deno.test("startBudget() refuses another unit once the largest would overrun the wall limit", () => {
  const { now, clock } = fakeClock();
  const budget = startBudget({ cpuMs: 10_000, wallMs: 1000 }, clock);
  now.wall += 400;
  budget.unitDone();
  assert.equal(budget.roomForAnotherUnit(), true);
  now.wall += 300;
  budget.unitDone();
  assert.equal(budget.roomForAnotherUnit(), false);
});

Deno.test("startBudget() stops at the page and key limits, with no clock moving at all", () => {
  const pages = startBudget({ cpuMs: 1000, wallMs: 1000, pages: 3 }, fakeClock().clock);
  let done = 0;
  do {
    pages.unitDone({ pages: 1, keys: 1000 });
    done++;
  } while (pages.roomForAnotherUnit());
  assert.equal(done, 3);

  const keys = startBudget({ cpuMs: 1000, wallMs: 1000, keys: 2500 }, fakeClock().clock);
  done = 0;
  do {
    keys.unitDone({ pages: 1, keys: 1000 });
    done++;
  } while (keys.roomForAnotherUnit());
  assert.equal(done, 2, "a third page of 1,000 keys would pass 2,500");
});

Deno.test("startBudget() without a CPU clock budgets on wall and work, and says so", () => {
  const { now, clock } = fakeClock(false);
  const budget = startBudget({ cpuMs: 10, wallMs: 1000, pages: 100 }, clock);
  assert.deepEqual(budget.clocks, ["wall", "work"]);
  now.wall += 100;
  budget.unitDone({ pages: 1, keys: 1000 });
  // The 10 ms CPU limit cannot be judged, so it does not stop the work; the wall clock does.
  assert.equal(budget.roomForAnotherUnit(), true);
  assert.deepEqual(budget.spent(), { cpuMs: null, wallMs: 100, pages: 1, keys: 1000 });
  assert.equal(budget.largestUnit().cpuMs, null);
  now.wall += 850;
  budget.unitDone({ pages: 1, keys: 1000 });
  assert.equal(budget.roomForAnotherUnit(), false);
});

Deno.test("processCpuClock() is absent where process.cpuUsage is missing, throws or lies", () => {
  assert.equal(processCpuClock({}), undefined);
  assert.equal(
    processCpuClock({
      cpuUsage: () => {
        throw new Error("Not implemented: process.cpuUsage");
      },
    }),
    undefined,
  );
  assert.equal(processCpuClock({ cpuUsage: () => ({ user: NaN, system: 0 }) }), undefined);
  const real = processCpuClock({ cpuUsage: () => ({ user: 2000, system: 1000 }) });
  assert.equal(real?.(), 3);
});

Deno.test("systemClock() reads this process's CPU time where it exists, which grows with work", () => {
  const clock = systemClock();
  assert.ok(clock.cpuMs, "plain Deno reports CPU time");
  const before = clock.cpuMs();
  let x = 0;
  for (let i = 0; i < 3_000_000; i++) x += Math.sqrt(i);
  assert.ok(x > 0);
  assert.ok(clock.cpuMs() > before);
  assert.equal(systemClock({ cpu: false }).cpuMs, undefined, "REBUILD_BUDGET_CLOCKS=wall,work");
});

Deno.test("systemClock() on the hosted edge runtime budgets on wall and work and never calls process.cpuUsage", async () => {
  const { cpuUsageCalls } = await asHosted(() => {
    const clock = systemClock();
    assert.equal(clock.cpuMs, undefined);
    const budget = startBudget({ cpuMs: 1, wallMs: 60_000, pages: 2 });
    assert.deepEqual(budget.clocks, ["wall", "work"]);
    budget.unitDone({ pages: 1, keys: 10 });
    assert.equal(budget.spent().cpuMs, null);
    assert.equal(budget.roomForAnotherUnit(), true);
  });
  assert.equal(cpuUsageCalls, 0, "each call logs a warning on hosted");
  assert.equal(typeof process.cpuUsage, "function", "restored");
  assert.ok(!("EdgeRuntime" in globalThis), "restored");
});

Deno.test("CpuShares divides the process's CPU evenly among the budgets open at once", () => {
  let processCpu = 1000;
  const shares = new CpuShares(() => processCpu);
  const a = shares.open();
  processCpu += 300; // a alone
  const b = shares.open();
  processCpu += 400; // a and b at once: 200 each
  assert.equal(a.cpuMs(), 500);
  assert.equal(b.cpuMs(), 200);
  a.close();
  processCpu += 100; // b alone again
  assert.equal(a.cpuMs(), 500, "a closed share stops growing");
  assert.equal(b.cpuMs(), 300);
  a.close(); // idempotent: b keeps the whole process
  processCpu += 50;
  assert.equal(b.cpuMs(), 350);
});

Deno.test("systemClock() budgets running at once in one process do not each count the other's CPU", () => {
  // Two invocations of a job in one local worker: each used to read the whole process's CPU, so
  // both saw the sum and stopped early. Their shares now add up to what the process used.
  const processMs = processCpuClock()!;
  const before = processMs();
  const a = startBudget({ cpuMs: 10_000, wallMs: 60_000 }, systemClock());
  const b = startBudget({ cpuMs: 10_000, wallMs: 60_000 }, systemClock());
  let x = 0;
  for (let i = 0; i < 3e7; i++) x += Math.sqrt(i);
  assert.ok(x > 0);
  const used = processMs() - before;
  const counted = a.spent().cpuMs! + b.spent().cpuMs!;
  a.end();
  b.end();
  assert.ok(used > 20, `the loop burned some CPU (${used} ms)`);
  assert.ok(counted <= used * 1.05 + 1, `the two budgets counted ${counted} ms of ${used} ms`);
  assert.ok(a.spent().cpuMs! > used * 0.3, `each has its share (${a.spent().cpuMs} of ${used})`);
});
