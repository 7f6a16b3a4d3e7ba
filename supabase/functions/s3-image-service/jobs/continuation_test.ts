import assert from "node:assert/strict";
import {
  type ContinueRequest,
  createContinuation,
  DEFAULT_MAX_HOPS,
  runInBackground,
} from "./continuation.ts";
import { asHostedRuntime } from "./testdata/hosted_process.ts";

// As on hosted Supabase: nothing here may need `process.cpuUsage`.
asHostedRuntime();

const request: ContinueRequest = {
  jobId: 7,
  worker: "job7-w",
  budget: { cpuMs: 100, wallMs: 900 },
};

Deno.test("createContinuation() self-calls the continue route with the service key and waits for 202 only", async () => {
  const seen: Array<{ url: string; init: RequestInit }> = [];
  let ranHere = 0;
  const continuation = createContinuation({
    functionUrl: "https://ref.supabase.co/functions/v1/s3-image-service/",
    serviceRoleKey: "service-key",
    runHere: () => Promise.resolve(ranHere++),
    fetch: (url, init) => {
      seen.push({ url: String(url), init: init! });
      return Promise.resolve(new Response("{}", { status: 202 }));
    },
  });
  assert.equal(await continuation.schedule(request), "called");
  assert.equal(seen.length, 1);
  assert.equal(
    seen[0].url,
    "https://ref.supabase.co/functions/v1/s3-image-service/rebuild/7/continue",
  );
  assert.equal(new Headers(seen[0].init.headers).get("authorization"), "Bearer service-key");
  assert.equal(new Headers(seen[0].init.headers).get("apikey"), "service-key");
  assert.deepEqual(JSON.parse(String(seen[0].init.body)), {
    worker: "job7-w",
    budget: request.budget,
    hop: 1,
  });
  assert.equal(ranHere, 0);
});

Deno.test("createContinuation() runs the slice here when the self-call fails", async () => {
  const ran: ContinueRequest[] = [];
  const continuation = createContinuation({
    functionUrl: "http://127.0.0.1:1/functions/v1/s3-image-service",
    serviceRoleKey: "k",
    runHere: (r) => Promise.resolve(void ran.push(r)),
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  const logged = console.error;
  console.error = () => {};
  try {
    await continuation.schedule(request);
  } finally {
    console.error = logged;
  }
  assert.deepEqual(ran, [request]);
});

Deno.test("createContinuation() runs the slice here when no URL or key is configured", async () => {
  const ran: ContinueRequest[] = [];
  const continuation = createContinuation({ runHere: (r) => Promise.resolve(void ran.push(r)) });
  await continuation.schedule(request);
  assert.deepEqual(ran, [request]);
});

Deno.test("runInBackground() hands the promise to EdgeRuntime.waitUntil when the runtime has it", async () => {
  const handed: Promise<unknown>[] = [];
  const global = globalThis as { EdgeRuntime?: unknown };
  global.EdgeRuntime = { waitUntil: (p: Promise<unknown>) => handed.push(p) };
  try {
    runInBackground(Promise.resolve(1));
    assert.equal(handed.length, 1);
    await handed[0];
  } finally {
    delete global.EdgeRuntime;
  }
});

Deno.test("createContinuation() stops a chain at its hop cap: no self-call, no slice here", async () => {
  const calls: number[] = [];
  let ranHere = 0;
  const continuation = createContinuation({
    functionUrl: "https://ref.supabase.co/functions/v1/s3-image-service",
    serviceRoleKey: "k",
    maxHops: 3,
    runHere: () => Promise.resolve(ranHere++),
    fetch: (_, init) => {
      calls.push(JSON.parse(String(init!.body)).hop);
      return Promise.resolve(new Response("{}", { status: 202 }));
    },
  });
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (message: string) => void warnings.push(message);
  try {
    const outcomes = [];
    for (let hop = 1; hop <= 5; hop++) {
      outcomes.push(await continuation.schedule({ ...request, hop }));
    }
    assert.deepEqual(outcomes, ["called", "called", "called", "capped", "capped"]);
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(calls, [1, 2, 3]);
  assert.equal(ranHere, 0, "a capped chain does not run on in this process either");
  assert.match(
    warnings[0],
    /Rebuild 7: its chain reached 3 self-calls; it waits for the scheduler/,
  );
  assert.equal(DEFAULT_MAX_HOPS, 500);
});
