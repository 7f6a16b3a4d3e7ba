import assert from "node:assert/strict";
import { resumeUrl, startResumeScheduler } from "./scheduler.ts";

function recordingFetch(answer: () => Response | Promise<Response>) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetch = (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init! });
    return Promise.resolve(answer());
  };
  return { calls, fetch: fetch as typeof globalThis.fetch };
}

Deno.test("startResumeScheduler() POSTs the resume route with the secret key on every tick", async () => {
  const { calls, fetch } = recordingFetch(() => Response.json({ resumed: true, job: null }));
  const scheduler = startResumeScheduler({
    functionsUrl: "http://127.0.0.1:5/functions/v1/",
    secretKey: "sb_secret_x",
    intervalMs: 3_600_000,
    fetch,
  });
  try {
    assert.deepEqual(await scheduler.tick(), { status: 200, body: { resumed: true, job: null } });
  } finally {
    await scheduler.stop();
  }
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "http://127.0.0.1:5/functions/v1/s3-image-service/rebuild/resume");
  assert.equal(calls[0].init.method, "POST");
  const headers = new Headers(calls[0].init.headers);
  assert.equal(headers.get("apikey"), "sb_secret_x");
  assert.equal(headers.get("authorization"), "Bearer sb_secret_x");
});

Deno.test("startResumeScheduler() keeps calling on its interval, through failures, until stopped", async () => {
  let n = 0;
  const { calls, fetch } = recordingFetch(() => {
    n++;
    if (n === 2) throw new TypeError("connection refused");
    return new Response("{}", { status: n === 3 ? 503 : 200 });
  });
  const logged: string[] = [];
  const scheduler = startResumeScheduler({
    functionsUrl: "http://h/functions/v1",
    secretKey: "k",
    intervalMs: 5,
    fetch,
    log: (message) => logged.push(message),
  });
  while (calls.length < 4) await new Promise((resolve) => setTimeout(resolve, 5));
  await scheduler.stop();
  const after = calls.length;
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(calls.length, after, "no call after stop");
  assert.ok(logged.some((m) => /failed: TypeError: connection refused/.test(m)), logged.join());
  assert.ok(logged.some((m) => /answered 503/.test(m)), logged.join());
});

Deno.test("resumeUrl() names the s3-image-service resume route", () => {
  assert.equal(
    resumeUrl("https://ref.supabase.co/functions/v1"),
    "https://ref.supabase.co/functions/v1/s3-image-service/rebuild/resume",
  );
});
