/**
 * The functions' S3 under a latency profile (`S3_LATENCY`, scripts/stack/latency_profile.ts),
 * as the integration stack's S3 proxy applies it when a test sets one over the control endpoint
 * (`PUT /s3/latency`): the profile in force is reported, every request the functions make is
 * delayed by its class, and a `503 SlowDown` rate is retried by the SDK. Delays here are a few
 * milliseconds: what is asserted is what the proxy did and what the user got, never a time.
 *
 * Each test turns the profile off again, whatever happened; the file removes its objects and
 * their index rows at the end.
 */
import assert from "node:assert/strict";
import type { S3LatencyState } from "../../scripts/stack/fault_proxy.ts";
import { samplePng } from "../../scripts/lib/png.ts";
import { listBucket } from "../support/bucket.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import { deleteObjects } from "./service_support.ts";

const P = `lat${crypto.randomUUID().slice(0, 6)}-`;

/** Puts a profile in force for the functions' S3 (`null`: off); returns the proxy's report. */
async function setLatency(spec: string | null): Promise<S3LatencyState> {
  const base = stackInfo().FAULTS_URL;
  assert.ok(base, "the integration tier starts its stack with faultProxies (scripts/test.ts)");
  const response = await fetch(`${base}/s3/latency`, {
    method: spec === null ? "DELETE" : "PUT",
    body: spec === null ? undefined : JSON.stringify({ spec }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

async function latencyState(): Promise<S3LatencyState> {
  return await (await fetch(`${stackInfo().FAULTS_URL}/s3/latency`)).json();
}

function upload(bytes: Uint8Array, filename: string) {
  const form = new FormData();
  form.set("file", new File([bytes as Uint8Array<ArrayBuffer>], filename));
  form.set("filename", filename);
  return callFunction("upload-to-s3", {
    method: "POST",
    token: stackInfo().MANAGER_TOKEN,
    body: form,
  });
}

async function indexed(filename: string): Promise<boolean> {
  const rows = await testDb()`select 1 from public.s3_image_cache where filename = ${filename}`;
  return rows.length === 1;
}

Deno.test.afterAll(async () => {
  await setLatency(null);
  await deleteObjects((await listBucket(P)).map((object) => object.key));
  await testDb()`delete from public.s3_image_cache where starts_with(filename, ${P})`;
  await closeTestDb();
});

Deno.test({
  name:
    "latency: the stack reports its profile, and the proxy delays each of the functions' requests",
  sanitizeResources: false,
  async fn() {
    try {
      assert.equal(stackInfo().S3_LATENCY, "off", "the tier starts without a profile");
      assert.ok(stackInfo().S3_PROXY_URL, "the functions' S3 goes through the proxy");
      const set = await setLatency("aws,list=2,head=2,get=2,put=2,delete=2,other=2,jitter=0");
      assert.match(set.spec, /^aws,list=2,head=2,get=2,put=2,delete=2,other=2,bandwidth_mbps=800,/);
      assert.match(set.description, /^aws \(list 2 ms, head 2 ms/);
      const { status, body } = await upload(samplePng(61, 40, 30), `${P}delayed.png`);
      assert.equal(status, 201, JSON.stringify(body));
      const { delayed, slowDowns } = await latencyState();
      assert.ok(delayed.put >= 1, `the upload's PutObject was delayed: ${JSON.stringify(delayed)}`);
      assert.equal(slowDowns, 0);
      assert.ok(await indexed(`${P}delayed.png`));
    } finally {
      await setLatency(null);
    }
  },
});

Deno.test({
  name:
    "latency: uploads succeed when S3 answers some requests 503 SlowDown (the SDK retries them)",
  sanitizeResources: false,
  async fn() {
    try {
      // Seed 1's sequence answers the 1st, 3rd, 8th, 9th… request SlowDown, never five in a
      // row early on: some of these uploads meet SlowDown, and none runs out of attempts.
      await setLatency("put=1,head=1,get=1,other=1,slowdown=0.3,seed=1");
      const names = Array.from({ length: 6 }, (_, i) => `${P}slow-${i}.png`);
      for (const [i, name] of names.entries()) {
        const { status, body } = await upload(samplePng(70 + i, 40, 30), name);
        assert.equal(status, 201, `${name}: ${JSON.stringify(body)}`);
      }
      const { slowDowns } = await latencyState();
      assert.ok(slowDowns > 0, "some requests were answered SlowDown and retried");
      const listed = new Set((await listBucket(`${P}slow-`)).map((object) => object.key));
      assert.deepEqual([...listed].sort(), names.toSorted());
      for (const name of names) assert.ok(await indexed(name), `${name} is indexed`);
    } finally {
      await setLatency(null);
    }
  },
});

Deno.test({
  name:
    "latency: at a SlowDown rate of 1 the SDK tries five times, then the upload is refused and not indexed",
  sanitizeResources: false,
  async fn() {
    try {
      await setLatency("slowdown=1");
      const name = `${P}never.png`;
      const { status, body } = await upload(samplePng(80, 40, 30), name);
      assert.ok(status >= 500 && status < 600, `${status} ${JSON.stringify(body)}`);
      const error = (body as { error?: { code?: string } }).error;
      assert.equal(typeof error?.code, "string", JSON.stringify(body));
      // The storage module's client makes five attempts (s3_client.ts) at its first request.
      assert.ok((await latencyState()).slowDowns >= 5);
      assert.deepEqual(await listBucket(name), []);
      assert.equal(await indexed(name), false);
    } finally {
      await setLatency(null);
    }
  },
});
