/**
 * Test helper: makes this process look like Supabase's hosted edge runtime, whose Node
 * `process` polyfill has no `cpuUsage`. Budget, slice and continuation tests import it so they
 * prove the rebuild never depends on CPU time.
 *
 * @module
 */
import process from "node:process";

/** Removes `process.cpuUsage` until the returned function puts it back. */
export function removeCpuUsage(): () => void {
  const real = process.cpuUsage;
  // deno-lint-ignore no-explicit-any
  delete (process as any).cpuUsage;
  return () => {
    process.cpuUsage = real;
  };
}

/** Runs `fn` with `process.cpuUsage` removed, then restores it. */
export async function withoutCpuUsage<T>(fn: () => T | Promise<T>): Promise<T> {
  const restore = removeCpuUsage();
  try {
    return await fn();
  } finally {
    restore();
  }
}
