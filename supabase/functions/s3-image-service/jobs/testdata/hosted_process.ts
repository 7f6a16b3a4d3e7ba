/**
 * Test double of Supabase's hosted edge runtime as the rebuild meets it: `globalThis.EdgeRuntime`
 * is set, and `process.cpuUsage` exists but, as the runtime's Node polyfill does, answers zeros
 * and logs a warning on every call. Budget, slice, continuation and service tests run under it to
 * prove the rebuild never depends on CPU time and never calls the function at all.
 *
 * @module
 */
import process from "node:process";

/** The hosted double in force; see {@linkcode asHostedRuntime}. */
export interface HostedRuntime {
  /** How many times anything called `process.cpuUsage` (each call is a warning on hosted). */
  cpuUsageCalls(): number;
  /** Puts the real runtime back. */
  restore(): void;
}

/** Makes this process look like the hosted edge runtime until `restore()`. */
export function asHostedRuntime(): HostedRuntime {
  const real = process.cpuUsage;
  let calls = 0;
  const global = globalThis as { EdgeRuntime?: string };
  const hadEdgeRuntime = "EdgeRuntime" in global;
  global.EdgeRuntime = "supabase-edge-runtime (test double)";
  process.cpuUsage = (() => {
    calls++;
    console.warn("Not implemented: process.cpuUsage");
    return { user: 0, system: 0 };
  }) as typeof process.cpuUsage;
  return {
    cpuUsageCalls: () => calls,
    restore() {
      process.cpuUsage = real;
      if (!hadEdgeRuntime) delete global.EdgeRuntime;
    },
  };
}

/** Runs `fn` as on the hosted runtime, then restores; answers `fn`'s result and the calls made. */
export async function asHosted<T>(
  fn: () => T | Promise<T>,
): Promise<{ result: T; cpuUsageCalls: number }> {
  const hosted = asHostedRuntime();
  try {
    const result = await fn();
    return { result, cpuUsageCalls: hosted.cpuUsageCalls() };
  } finally {
    hosted.restore();
  }
}
