/**
 * The isolated stack the test harness (`scripts/test.ts`) started for this run, read from the
 * `STACK_INFO` environment variable it sets.
 *
 * @module
 */
import type { StackInfo } from "../../scripts/stack/stack.ts";

/** The running stack's URLs and keys; throws a clear error outside the harness. */
export function stackInfo(): StackInfo {
  const raw = Deno.env.get("STACK_INFO");
  if (!raw) {
    throw new Error(
      "STACK_INFO is not set: run these tests through `npm run test:integration` or `npm run test:e2e`, which start an isolated stack",
    );
  }
  return JSON.parse(raw) as StackInfo;
}

/** `Authorization` header for a token. */
export function bearer(token: string): HeadersInit {
  return { authorization: `Bearer ${token}` };
}

/** Calls a function through the host: `callFunction("upload-to-s3/health", { token })`. */
export async function callFunction(
  path: string,
  options: { token?: string; method?: string; body?: BodyInit | null; headers?: HeadersInit } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const info = stackInfo();
  const headers = new Headers(options.headers);
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  const response = await fetch(`${info.FUNCTIONS_URL}/${path}`, {
    method: options.method ?? "GET",
    headers,
    body: options.body,
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
}
