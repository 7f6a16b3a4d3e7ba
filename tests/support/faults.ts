/**
 * Steering the fault proxies the integration stack puts between the functions and S3 /
 * Postgres (`scripts/stack/fault_proxy.ts`), and watching what the functions did about it.
 * Only the functions go through the proxies: tests' own S3 and database clients reach the real
 * services, so a test can check the outcome while the functions' path is broken.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { S3FaultRule, S3FaultState } from "../../scripts/stack/fault_proxy.ts";
import { callFunction, stackInfo } from "./stack.ts";

export type { S3FaultRule, S3FaultState };

function controlUrl(path: string): string {
  const base = stackInfo().FAULTS_URL;
  if (!base) {
    throw new Error(
      "FAULTS_URL is not set: the integration tier starts its stack with faultProxies (scripts/test.ts)",
    );
  }
  return `${base}${path}`;
}

async function control<T>(path: string, method = "GET", body?: unknown): Promise<T> {
  const response = await fetch(controlUrl(path), {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`Fault control ${method} ${path}: ${JSON.stringify(json)}`);
  return json as T;
}

/** Makes the functions' S3 proxy fail (or hold) the next matching requests. */
export async function addS3Fault(rule: S3FaultRule): Promise<void> {
  await control("/s3/faults", "POST", rule);
}

/** The S3 rules with how often each fired and how many requests each holds right now. */
export async function s3Faults(): Promise<S3FaultState[]> {
  return (await control<{ faults: S3FaultState[] }>("/s3/faults")).faults;
}

/** Removes every S3 rule; held requests go on. */
export async function clearS3ProxyFaults(): Promise<void> {
  await control("/s3/faults", "DELETE");
}

/** Lets the requests the S3 proxy holds go on. */
export async function releaseS3(): Promise<number> {
  return (await control<{ released: number }>("/s3/release", "POST")).released;
}

/** The functions' database proxy: refusing or not, and its connection counts. */
export interface DbProxyState {
  refusing: boolean;
  open: number;
  accepted: number;
  refused: number;
}

/** The database proxy's state now. */
export async function dbProxyState(): Promise<DbProxyState> {
  return await control<DbProxyState>("/db");
}

/** The database goes away for the functions: new connections refused, open ones cut. */
export async function databaseGoesAway(): Promise<DbProxyState> {
  return await control<DbProxyState>("/db/down", "POST", { cut: true });
}

/** The database comes back for the functions. */
export async function databaseComesBack(): Promise<DbProxyState> {
  return await control<DbProxyState>("/db/up", "POST");
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every 50 ms until it returns a value other than `undefined`/`false`; throws
 * with `what` once `timeoutMs` has passed (a stuck stack fails the test instead of hanging it).
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    assert.ok(Date.now() < deadline, `Timed out waiting until ${what}`);
    await sleep(50);
  }
}

/**
 * Undoes whatever a test did to the proxies, then waits until both functions reach the bucket
 * and the database again (their deep health is 200), so the next test, in this file or another,
 * starts on a working stack: the database comes back, every S3 rule goes, held requests go on.
 */
export async function restoreFaultProxies(): Promise<void> {
  await databaseComesBack();
  await clearS3ProxyFaults();
  for (const name of ["upload-to-s3", "s3-image-service"]) {
    await eventually(`${name} reaches the bucket and the database again`, async () => {
      // Deep checks answer an admin or the secret key only; anyone else gets the shallow answer.
      const { status, body } = await callFunction(`${name}/health?deep=true`, {
        token: stackInfo().ADMIN_TOKEN,
      });
      return status === 200 && body.checks !== undefined;
    });
  }
}

/** Resolves once the S3 proxy holds `count` requests under the rule at `ruleIndex`. */
export async function heldByS3Proxy(ruleIndex = 0, timeoutMs = 30_000, count = 1): Promise<void> {
  await eventually(
    `the S3 proxy holds ${count} request(s) (rule ${ruleIndex})`,
    async () => (await s3Faults())[ruleIndex]?.held >= count,
    timeoutMs,
  );
}

/**
 * Whether a function's log (`<state dir>/logs/function-<name>.log`, where the host writes each
 * worker's output) has a line matching `pattern`.
 */
export async function functionLogMatches(functionName: string, pattern: RegExp): Promise<boolean> {
  const dir = Deno.env.get("STACK_STATE_DIR");
  if (!dir) throw new Error("STACK_STATE_DIR is not set: run through `npm run test:integration`");
  const text = await Deno.readTextFile(`${dir}/logs/function-${functionName}.log`).catch(() => "");
  return text.split("\n").some((line) => pattern.test(line));
}
