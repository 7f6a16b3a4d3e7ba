/**
 * A per-invocation work budget on the clocks the runtime really has:
 *
 * - **wall** time (`performance.now()`), always;
 * - **work** done, counted by us: listing pages and keys, always;
 * - **cpu** time of this process (`process.cpuUsage()`), only where the runtime reports it.
 *   On Supabase's hosted edge runtime (`globalThis.EdgeRuntime`) it is never called: its Node
 *   polyfill has one, but it answers zeros and logs a warning on every call (edge-runtime
 *   `ext/node/polyfills/process.ts`; hosted keeps 100 log events per 10 s). CPU is never
 *   required: wall time and work are what keep a slice inside hosted's 2 s CPU.
 *
 * Work is done in units (a listing page); after each unit the budget says whether another unit
 * as large as the largest seen so far still fits every limit, so an invocation stops *before*
 * it would overrun rather than after. The budget reports which clocks it used.
 *
 * @module
 */
import process from "node:process";

/** A clock a budget can read. */
export type ClockName = "cpu" | "wall" | "work";

/** Limits for one invocation: milliseconds, and optional work counts. */
export interface BudgetLimits {
  cpuMs: number;
  wallMs: number;
  /** Listing pages per invocation; unlimited when absent. */
  pages?: number;
  /** Listed keys per invocation; unlimited when absent. */
  keys?: number;
}

/** What an invocation has spent so far. `cpuMs` is null when CPU time is not measured. */
export interface BudgetSpent {
  cpuMs: number | null;
  wallMs: number;
  pages: number;
  keys: number;
}

/** Where a budget reads its clocks (tests pass fakes). */
export interface BudgetClock {
  /** Milliseconds of CPU time this process has used; absent where the runtime cannot say. */
  cpuMs?: () => number;
  /** A monotonic wall clock in milliseconds. */
  wallMs(): number;
  /** Releases the clock when its budget ends (a CPU share: {@linkcode CpuShares}). */
  close?: () => void;
}

/** One unit of work, as counted by the caller. */
export interface WorkDone {
  pages: number;
  keys: number;
}

type CpuUsage = () => { user: number; system: number };

/**
 * `process.cpuUsage` when this runtime really implements it (present, callable, answering
 * finite numbers, and not Supabase's edge runtime, whose polyfill only pretends), else
 * undefined. Never throws.
 */
export function processCpuClock(
  source: { cpuUsage?: unknown } = process,
  runtime: object = globalThis,
): (() => number) | undefined {
  if ("EdgeRuntime" in runtime) return undefined;
  const cpuUsage = source.cpuUsage;
  if (typeof cpuUsage !== "function") return undefined;
  const read = () => {
    const { user, system } = (cpuUsage as CpuUsage).call(source);
    return (user + system) / 1000;
  };
  try {
    return Number.isFinite(read()) ? read : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One process's CPU time shared fairly among the budgets running in it at once.
 *
 * `process.cpuUsage()` is the whole process's. On hosted each invocation is its own isolate,
 * but locally (and wherever several requests share a worker) a job's concurrent invocations run
 * in one process: each reading the process's CPU would count the others' too, and with four at
 * once every invocation would stop at a quarter of its budget. Which request a CPU millisecond
 * served is unknown, so each interval's CPU is divided evenly among the budgets open during it:
 * alone, a budget sees the process's CPU exactly as before.
 */
export class CpuShares {
  readonly #read: () => number;
  #open = 0;
  #last: number;
  /** CPU per open budget, summed over time (a budget's share is its growth while it is open). */
  #perShare = 0;

  constructor(read: () => number) {
    this.#read = read;
    this.#last = read();
  }

  #advance(): number {
    const now = this.#read();
    if (this.#open > 0) this.#perShare += (now - this.#last) / this.#open;
    this.#last = now;
    return this.#perShare;
  }

  /** Opens one budget's share: its CPU so far, and `close` (idempotent) when it ends. */
  open(): { cpuMs: () => number; close: () => void } {
    const start = this.#advance();
    this.#open++;
    let closedAt: number | null = null;
    return {
      cpuMs: () => (closedAt ?? this.#advance()) - start,
      close: () => {
        if (closedAt !== null) return;
        closedAt = this.#advance();
        this.#open--;
      },
    };
  }
}

let processShares: CpuShares | undefined;

/**
 * The real clocks: `performance.now()`, plus this budget's share of the process's CPU time
 * ({@linkcode CpuShares}) when `cpu` is allowed and the runtime reports it. Call `close` when
 * the budget ends, so its share stops diluting the others'.
 */
export function systemClock(options: { cpu?: boolean } = {}): BudgetClock {
  const read = options.cpu === false ? undefined : processCpuClock();
  if (!read) return { wallMs: () => performance.now() };
  processShares ??= new CpuShares(read);
  const share = processShares.open();
  return { wallMs: () => performance.now(), cpuMs: share.cpuMs, close: share.close };
}

/** A running budget; see {@linkcode startBudget}. */
export interface Budget {
  readonly limits: BudgetLimits;
  /** The clocks this budget reads, e.g. `["wall", "work"]` where CPU time is not reported. */
  readonly clocks: ClockName[];
  /** Spent since the budget started. */
  spent(): BudgetSpent;
  /** Marks the end of one unit of work (its time is the time since the previous mark). */
  unitDone(work?: WorkDone): void;
  /** The largest unit so far on each clock (zero before the first). */
  largestUnit(): BudgetSpent;
  /** Whether one more unit as large as the largest so far still fits every limit. */
  roomForAnotherUnit(): boolean;
  /** Ends the budget: its clocks stop (its CPU share no longer divides the process's). */
  end(): void;
}

/**
 * Starts measuring an invocation against `limits`.
 *
 * @example
 * ```ts
 * const budget = startBudget({ cpuMs: 1200, wallMs: 60_000, pages: 40 }, systemClock());
 * do {
 *   const page = await listOnePage();
 *   budget.unitDone({ pages: 1, keys: page.objects.length });
 * } while (page.nextToken && budget.roomForAnotherUnit());
 * ```
 */
export function startBudget(limits: BudgetLimits, clock: BudgetClock = systemClock()): Budget {
  const readCpu = clock.cpuMs;
  const clocks: ClockName[] = readCpu ? ["cpu", "wall", "work"] : ["wall", "work"];
  const cpuStart = readCpu?.() ?? 0;
  const wallStart = clock.wallMs();
  let lastCpu = cpuStart;
  let lastWall = wallStart;
  const done = { pages: 0, keys: 0 };
  const largest = { cpuMs: 0, wallMs: 0, pages: 0, keys: 0 };
  let endedAt: number | null = null;
  const spent = (): BudgetSpent => ({
    cpuMs: readCpu ? readCpu() - cpuStart : null,
    wallMs: (endedAt ?? clock.wallMs()) - wallStart,
    pages: done.pages,
    keys: done.keys,
  });
  return {
    limits,
    clocks,
    spent,
    unitDone(work = { pages: 1, keys: 0 }) {
      const cpu = readCpu?.() ?? 0;
      const wall = clock.wallMs();
      largest.cpuMs = Math.max(largest.cpuMs, cpu - lastCpu);
      largest.wallMs = Math.max(largest.wallMs, wall - lastWall);
      largest.pages = Math.max(largest.pages, work.pages);
      largest.keys = Math.max(largest.keys, work.keys);
      done.pages += work.pages;
      done.keys += work.keys;
      lastCpu = cpu;
      lastWall = wall;
    },
    largestUnit: () => ({ ...largest, cpuMs: readCpu ? largest.cpuMs : null }),
    roomForAnotherUnit() {
      const now = spent();
      const fits = (used: number, next: number, limit: number | undefined) =>
        limit === undefined || used + next <= limit;
      return (now.cpuMs === null || fits(now.cpuMs, largest.cpuMs, limits.cpuMs)) &&
        fits(now.wallMs, largest.wallMs, limits.wallMs) &&
        fits(now.pages, largest.pages, limits.pages) &&
        fits(now.keys, largest.keys, limits.keys);
    },
    end() {
      if (endedAt !== null) return;
      endedAt = clock.wallMs();
      clock.close?.();
    },
  };
}
