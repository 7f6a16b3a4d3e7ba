import assert from "node:assert/strict";
import { type BudgetClock, startBudget, SYSTEM_CLOCK } from "./budget.ts";

function fakeClock() {
  const now = { cpu: 0, wall: 0 };
  const clock: BudgetClock = { cpuMs: () => now.cpu, wallMs: () => now.wall };
  return { now, clock };
}

Deno.test("startBudget() measures what was spent since it started", () => {
  const { now, clock } = fakeClock();
  now.cpu = 100;
  now.wall = 1000;
  const budget = startBudget({ cpuMs: 500, wallMs: 5000 }, clock);
  now.cpu = 130;
  now.wall = 1400;
  assert.deepEqual(budget.spent(), { cpuMs: 30, wallMs: 400 });
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
  assert.ok(budget.spent().cpuMs <= 100);
  assert.deepEqual(budget.largestUnit(), { cpuMs: 35, wallMs: 1 });
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

Deno.test("SYSTEM_CLOCK reads this process's CPU time, which grows with work", () => {
  const before = SYSTEM_CLOCK.cpuMs();
  let x = 0;
  for (let i = 0; i < 3_000_000; i++) x += Math.sqrt(i);
  assert.ok(x > 0);
  assert.ok(SYSTEM_CLOCK.cpuMs() > before);
});
