/**
 * A function started on its own, exactly as the stack's host starts it (`deno serve`, a cleared
 * environment built from the stack's facts), for tests that need a function with an environment
 * of its own (a broken setting, another bucket) or with nothing cached yet.
 *
 * @module
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../../scripts/stack/migrations.ts";
import { freePort } from "../../scripts/stack/process.ts";
import { stackInfo } from "./stack.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The environment the host gives a function, built from the stack's facts (plus `overrides`). */
export function functionEnv(overrides: Record<string, string>): Record<string, string> {
  const info = stackInfo();
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    SUPABASE_URL: info.API_URL,
    SUPABASE_DB_URL: info.DB_URL,
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: info.SECRET_KEY }),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: info.PUBLISHABLE_KEY }),
    AWS_ACCESS_KEY: info.AWS_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: info.AWS_SECRET_ACCESS_KEY,
    AWS_REGION: info.AWS_REGION,
    S3_ENDPOINT: info.S3_ENDPOINT,
    S3_BUCKET: info.S3_BUCKET,
    ...overrides,
  };
}

/**
 * Runs `work` against function `name` started on its own, exactly as the host starts it (deno
 * serve, a cleared environment), with `overrides` in its environment: the stack's host starts
 * every function from one environment, and these tests need one that is broken.
 */
export async function withOwnFunction(
  name: string,
  overrides: Record<string, string>,
  work: (base: string) => Promise<void>,
): Promise<void> {
  const port = freePort();
  const child = new Deno.Command(`${REPO_ROOT}node_modules/.bin/deno`, {
    args: [
      "serve",
      "--quiet",
      "--no-prompt",
      `--config=${REPO_ROOT}deno.json`,
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      "--allow-write=/tmp",
      "--host=127.0.0.1",
      `--port=${port}`,
      `${REPO_ROOT}supabase/functions/${name}/index.ts`,
    ],
    env: functionEnv(overrides),
    clearEnv: true,
    cwd: REPO_ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const base = `http://127.0.0.1:${port}/${name}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await fetch(`${base}/health`).then((r) => r.body?.cancel(), () => "down");
      if (ready !== "down") break;
      assert.ok(Date.now() < deadline, `${name} did not start`);
      await sleep(200);
    }
    await work(base);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}
