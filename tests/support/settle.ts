/**
 * Waiting on a promise that must fail, without letting a hang hang the test.
 *
 * @module
 */
import assert from "node:assert/strict";

/** The error `promise` rejects with; fails the test if it resolves or has not settled in `ms`. */
export async function errorWithin(promise: Promise<unknown>, ms: number): Promise<Error> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((resolve) => timer = setTimeout(() => resolve("hung"), ms));
  try {
    const outcome = await Promise.race([promise.then(() => "resolved", (error) => error), hung]);
    assert.notEqual(outcome, "hung", `the promise did not settle within ${ms} ms`);
    assert.ok(outcome instanceof Error, `expected an error, got ${String(outcome)}`);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}
