/**
 * A per-invocation work budget: CPU time (of this process, `process.cpuUsage()`) and wall time
 * (`performance.now()`). Work is done in units (a listing page); after each unit the budget says
 * whether another unit of the largest size seen so far still fits, so an invocation stops
 * *before* it would overrun rather than after.
 *
 * @module
 */
import process from "node:process";

/** Limits for one invocation, in milliseconds. */
export interface BudgetLimits {
  cpuMs: number;
  wallMs: number;
}

/** What an invocation has spent so far, in milliseconds. */
export interface BudgetSpent {
  cpuMs: number;
  wallMs: number;
}

/** Where a budget reads its clocks (tests pass fakes). */
export interface BudgetClock {
  /** Milliseconds of CPU time (user + system) this process has used. */
  cpuMs(): number;
  /** A monotonic wall clock in milliseconds. */
  wallMs(): number;
}

/** The real clocks: `process.cpuUsage()` and `performance.now()`. */
export const SYSTEM_CLOCK: BudgetClock = {
  cpuMs() {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  },
  wallMs: () => performance.now(),
};

/** A running budget; see {@linkcode startBudget}. */
export interface Budget {
  readonly limits: BudgetLimits;
  /** Spent since the budget started. */
  spent(): BudgetSpent;
  /** Marks the end of one unit of work (its cost is the time since the previous mark). */
  unitDone(): void;
  /** The most expensive unit so far (zero before the first). */
  largestUnit(): BudgetSpent;
  /** Whether one more unit as expensive as the largest so far still fits in both limits. */
  roomForAnotherUnit(): boolean;
}

/**
 * Starts measuring an invocation against `limits`.
 *
 * @example
 * ```ts
 * const budget = startBudget({ cpuMs: 1200, wallMs: 60_000 });
 * do {
 *   await doOnePage();
 *   budget.unitDone();
 * } while (morePages && budget.roomForAnotherUnit());
 * ```
 */
export function startBudget(limits: BudgetLimits, clock: BudgetClock = SYSTEM_CLOCK): Budget {
  const cpuStart = clock.cpuMs();
  const wallStart = clock.wallMs();
  let lastCpu = cpuStart;
  let lastWall = wallStart;
  const largest = { cpuMs: 0, wallMs: 0 };
  const spent = (): BudgetSpent => ({
    cpuMs: clock.cpuMs() - cpuStart,
    wallMs: clock.wallMs() - wallStart,
  });
  return {
    limits,
    spent,
    unitDone() {
      const cpu = clock.cpuMs();
      const wall = clock.wallMs();
      largest.cpuMs = Math.max(largest.cpuMs, cpu - lastCpu);
      largest.wallMs = Math.max(largest.wallMs, wall - lastWall);
      lastCpu = cpu;
      lastWall = wall;
    },
    largestUnit: () => ({ ...largest }),
    roomForAnotherUnit() {
      const now = spent();
      return now.cpuMs + largest.cpuMs <= limits.cpuMs &&
        now.wallMs + largest.wallMs <= limits.wallMs;
    },
  };
}
