import assert from "node:assert/strict";
import { parseLatencyProfile } from "./latency_profile.ts";
import {
  classifyS3Request,
  s3FaultProblem,
  startFaultControl,
  startS3FaultProxy,
  startStackFaultProxies,
  startTcpFaultProxy,
} from "./fault_proxy.ts";

/** A stand-in upstream that records what reached it and answers with the path it saw. */
function recordingServer() {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    const { pathname, search } = new URL(req.url);
    seen.push(`${req.method} ${pathname}${search} ${body.length}`);
    return new Response(`upstream ${req.method} ${pathname}`, { headers: { etag: '"e1"' } });
  });
  return { seen, port: server.addr.port, stop: () => server.shutdown() };
}

async function call(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  return { status: response.status, text: await response.text() };
}

const test = (name: string, fn: () => Promise<void> | void) =>
  Deno.test({ name, sanitizeResources: false, sanitizeOps: false, fn });

test("classifyS3Request() names each S3 call by what it does and on which key", () => {
  assert.deepEqual(classifyS3Request("GET", "/b?list-type=2&max-keys=1000", {}), {
    operation: "list",
  });
  assert.deepEqual(classifyS3Request("PUT", "/b/a%20b.jpg?x-id=PutObject", {}), {
    operation: "put",
    key: "a b.jpg",
  });
  assert.deepEqual(
    classifyS3Request("PUT", "/b/live.jpg", { "x-amz-copy-source": "/b/_incoming/x.jpg" }),
    { operation: "copy", key: "live.jpg" },
  );
  assert.deepEqual(classifyS3Request("GET", "/b/f/a.png", {}), {
    operation: "get",
    key: "f/a.png",
  });
  assert.deepEqual(classifyS3Request("HEAD", "/b/a.png", {}), { operation: "head", key: "a.png" });
  assert.deepEqual(classifyS3Request("DELETE", "/b/a.png", {}), {
    operation: "delete",
    key: "a.png",
  });
  assert.deepEqual(classifyS3Request("PUT", "/b", {}), { operation: "bucket" });
});

test("s3FaultProblem() refuses rules that would do nothing or are mistyped", () => {
  assert.equal(s3FaultProblem({ operation: "list", status: 503, remaining: 1 }), undefined);
  assert.match(s3FaultProblem({ status: 503 })!, /remaining/);
  assert.match(s3FaultProblem({ operation: "lists", status: 503, remaining: 1 })!, /operation/);
  assert.match(
    s3FaultProblem({ remaining: 1 })!,
    /needs status, reset, hold, delayMs or dropHeaders/,
  );
  assert.match(s3FaultProblem({ status: 200, remaining: 1 })!, /status/);
  assert.match(s3FaultProblem({ dropHeaders: [], remaining: 1 })!, /needs status/);
  assert.match(s3FaultProblem({ dropHeaders: ["a b"], remaining: 1 })!, /dropHeaders/);
  assert.match(s3FaultProblem({ reset: true, remaining: 1, when: 3 })!, /Unknown field.*when/);
});

test("S3 proxy: forwards untouched requests and answers SlowDown from the second match on", async () => {
  const upstream = recordingServer();
  const proxy = startS3FaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  try {
    proxy.addFault({ operation: "list", status: 503, after: 1, remaining: 2 });
    // A request of another operation neither fires the rule nor counts against `after`.
    assert.equal((await call(`${proxy.url}/bucket/a.jpg`)).status, 200);
    const first = await call(`${proxy.url}/bucket?list-type=2`);
    assert.deepEqual(first, { status: 200, text: "upstream GET /bucket" });
    for (let i = 0; i < 2; i++) {
      const faulted = await call(`${proxy.url}/bucket?list-type=2`);
      assert.equal(faulted.status, 503);
      assert.match(faulted.text, /<Code>SlowDown<\/Code>/);
    }
    assert.equal((await call(`${proxy.url}/bucket?list-type=2`)).status, 200);
    assert.deepEqual(upstream.seen, [
      "GET /bucket/a.jpg 0",
      "GET /bucket?list-type=2 0",
      "GET /bucket?list-type=2 0",
    ]);
    const [rule] = proxy.faults();
    assert.deepEqual([rule.hits, rule.remaining], [2, 0]);
    assert.equal(proxy.requests().list, 4);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test("S3 proxy: a faulted PUT gets its 500 answer and its bytes never reach S3", async () => {
  const upstream = recordingServer();
  const proxy = startS3FaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  try {
    proxy.addFault({ operation: "put", keyPrefix: "bad-", status: 500, remaining: 1 });
    const body = new Uint8Array(300_000).fill(7);
    const faulted = await call(`${proxy.url}/bucket/bad-1.jpg`, { method: "PUT", body });
    assert.equal(faulted.status, 500);
    assert.match(faulted.text, /<Code>InternalError<\/Code>/);
    const other = await call(`${proxy.url}/bucket/good-1.jpg`, { method: "PUT", body });
    assert.equal(other.status, 200);
    assert.deepEqual(upstream.seen, ["PUT /bucket/good-1.jpg 300000"]);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test("S3 proxy: a reset drops the connection without an answer", async () => {
  const upstream = recordingServer();
  const proxy = startS3FaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  try {
    proxy.addFault({ operation: "head", reset: true, remaining: 1 });
    await assert.rejects(fetch(`${proxy.url}/bucket/a.jpg`, { method: "HEAD" }));
    assert.equal((await call(`${proxy.url}/bucket/a.jpg`, { method: "HEAD" })).status, 200);
    assert.deepEqual(upstream.seen, ["HEAD /bucket/a.jpg 0"]);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test("S3 proxy: a delayed request still reaches S3 and gets its answer", async () => {
  const upstream = recordingServer();
  const proxy = startS3FaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  try {
    proxy.addFault({ operation: "get", delayMs: 20, remaining: 1 });
    assert.deepEqual(await call(`${proxy.url}/bucket/slow.jpg`), {
      status: 200,
      text: "upstream GET /bucket/slow.jpg",
    });
    assert.equal(proxy.faults()[0].hits, 1);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test("S3 proxy: a held request reaches S3 only once released", async () => {
  const upstream = recordingServer();
  const proxy = startS3FaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  try {
    proxy.addFault({ operation: "put", hold: true, remaining: 1 });
    const pending = call(`${proxy.url}/bucket/held.jpg`, { method: "PUT", body: "abc" });
    const deadline = Date.now() + 10_000;
    while (proxy.faults()[0].held === 0) {
      assert.ok(Date.now() < deadline, "the request was never held");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(upstream.seen, []);
    assert.equal(proxy.release(), 1);
    assert.equal((await pending).status, 200);
    assert.deepEqual(upstream.seen, ["PUT /bucket/held.jpg 3"]);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test("S3 proxy: dropHeaders forwards the request without those headers, once", async () => {
  const seenHeaders: Array<string | null> = [];
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seenHeaders.push(req.headers.get("x-amz-copy-source-if-match"));
    return new Response("ok");
  });
  const proxy = startS3FaultProxy({
    upstream: { hostname: "127.0.0.1", port: upstream.addr.port },
  });
  try {
    proxy.addFault({
      operation: "copy",
      dropHeaders: ["X-Amz-Copy-Source-If-Match"],
      remaining: 1,
    });
    const copy = {
      method: "PUT",
      headers: { "x-amz-copy-source": "/b/src.png", "x-amz-copy-source-if-match": '"e1"' },
    };
    assert.equal((await call(`${proxy.url}/b/live.png`, copy)).status, 200);
    assert.equal((await call(`${proxy.url}/b/live.png`, copy)).status, 200);
    assert.deepEqual(seenHeaders, [null, '"e1"'], "dropped once, then forwarded as sent");
  } finally {
    await proxy.stop();
    await upstream.shutdown();
  }
});

/** An upstream that echoes every byte back, standing in for Postgres. */
function echoServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        conn.readable.pipeTo(conn.writable).catch(() => {});
      }
    } catch { /* closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    stop() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* gone */ }
      }
    },
  };
}

async function roundTrip(conn: Deno.Conn, text: string): Promise<string | null> {
  await conn.write(new TextEncoder().encode(text));
  const buffer = new Uint8Array(100);
  const n = await conn.read(buffer).catch(() => null);
  return n === null ? null : new TextDecoder().decode(buffer.subarray(0, n));
}

test("TCP proxy: the database goes away (open sessions cut, new ones closed) and comes back", async () => {
  const upstream = echoServer();
  const proxy = startTcpFaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  const opened: Deno.Conn[] = [];
  try {
    const session = await connect();
    opened.push(session);
    assert.equal(await roundTrip(session, "select 1"), "select 1");
    proxy.goDown();
    assert.equal(await roundTrip(session, "select 2").catch(() => null), null, "session cut");
    const refused = await connect();
    opened.push(refused);
    assert.equal(await roundTrip(refused, "hello").catch(() => null), null, "new one closed");
    assert.equal(proxy.state().refused, 1);
    proxy.comeBack();
    const again = await connect();
    opened.push(again);
    assert.equal(await roundTrip(again, "select 3"), "select 3");
    assert.deepEqual(proxy.state(), { refusing: false, open: 1, accepted: 2, refused: 1 });
  } finally {
    for (const conn of opened) {
      try {
        conn.close();
      } catch { /* already closed by the proxy */ }
    }
    await proxy.stop();
    upstream.stop();
  }
});

test("fault control: rules and database state over HTTP; bad rules are a 400 with a reason", async () => {
  const upstream = echoServer();
  const s3 = startS3FaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  const db = startTcpFaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  const control = startFaultControl({ s3, db });
  try {
    const bad = await fetch(`${control.url}/s3/faults`, {
      method: "POST",
      body: JSON.stringify({ operation: "list", status: 503 }),
    });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /remaining must be a positive integer/);
    const added = await fetch(`${control.url}/s3/faults`, {
      method: "POST",
      body: JSON.stringify({ operation: "put", status: 503, remaining: 3 }),
    });
    assert.equal(added.status, 200);
    assert.equal((await added.json()).faults[0].remaining, 3);
    const cleared = await (await fetch(`${control.url}/s3/faults`, { method: "DELETE" })).json();
    assert.deepEqual(cleared.faults, []);
    const down = await (await fetch(`${control.url}/db/down`, { method: "POST" })).json();
    assert.equal(down.refusing, true);
    assert.equal(db.state().refusing, true);
    await (await fetch(`${control.url}/db/up`, { method: "POST" })).body?.cancel();
    assert.equal(db.state().refusing, false);
    const missing = await fetch(`${control.url}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await control.stop();
    await s3.stop();
    await db.stop();
    upstream.stop();
  }
});

test("startStackFaultProxies() hands out proxied S3 and database URLs with the same credentials", async () => {
  const proxies = startStackFaultProxies({
    s3Endpoint: "http://127.0.0.1:9",
    dbUrl: "postgresql://postgres:pw@127.0.0.1:9/postgres?sslmode=disable",
  });
  try {
    assert.match(proxies.s3Endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    const db = new URL(proxies.dbUrl);
    assert.equal(`${db.protocol}//${db.username}:${db.password}@`, "postgresql://postgres:pw@");
    assert.notEqual(db.port, "9");
    assert.equal(`${db.pathname}${db.search}`, "/postgres?sslmode=disable");
    const state = await (await fetch(`${proxies.controlUrl}/db`)).json();
    assert.equal(state.refusing, false);
  } finally {
    await proxies.stop();
  }
});

/** A proxy under `spec` whose waits are recorded instead of slept. */
function latencyProxy(upstreamPort: number, spec: string) {
  const slept: number[] = [];
  const proxy = startS3FaultProxy({
    upstream: { hostname: "127.0.0.1", port: upstreamPort },
    latency: parseLatencyProfile(spec),
    sleep: (ms) => (slept.push(ms), Promise.resolve()),
  });
  return { proxy, slept };
}

test("S3 proxy under a latency profile: each operation waits its class's delay", async () => {
  const upstream = recordingServer();
  const { proxy, slept } = latencyProxy(
    upstream.port,
    "list=100,head=25,get=20,put=30,delete=15,other=5,bandwidth_mbps=800",
  );
  try {
    const expectations: Array<[string, RequestInit, number]> = [
      [`${proxy.url}/bucket?list-type=2&max-keys=1000`, {}, 100],
      [`${proxy.url}/bucket/a.jpg`, { method: "HEAD" }, 25],
      [`${proxy.url}/bucket/a.jpg`, {}, 20],
      // 1,000,000 bytes at 800 Mbit/s: 10 ms on top of the PUT's 30.
      [`${proxy.url}/bucket/a.jpg`, { method: "PUT", body: new Uint8Array(1_000_000) }, 40],
      [`${proxy.url}/bucket/b.jpg`, {
        method: "PUT",
        headers: { "x-amz-copy-source": "/bucket/a.jpg" },
      }, 30],
      [`${proxy.url}/bucket/a.jpg`, { method: "DELETE" }, 15],
      [`${proxy.url}/bucket`, { method: "HEAD" }, 5],
    ];
    for (const [url, init, ms] of expectations) {
      assert.equal((await call(url, init)).status, 200);
      assert.equal(slept.at(-1), ms, `${init.method ?? "GET"} ${url}`);
    }
    assert.equal(slept.length, expectations.length);
    assert.equal(upstream.seen.length, expectations.length, "every request was forwarded");
    assert.deepEqual(proxy.latency().delayed, {
      list: 1,
      head: 1,
      get: 1,
      put: 2,
      delete: 1,
      other: 1,
    });
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test("S3 proxy under a latency profile: jitter follows the seed", async () => {
  const upstream = recordingServer();
  const runs: number[][] = [];
  try {
    for (const seed of [5, 5, 6]) {
      const { proxy, slept } = latencyProxy(upstream.port, `list=100,jitter=0.2,seed=${seed}`);
      for (let i = 0; i < 5; i++) await call(`${proxy.url}/bucket?list-type=2`);
      await proxy.stop();
      assert.ok(slept.every((ms) => ms >= 80 && ms <= 120));
      runs.push(slept);
    }
    assert.deepEqual(runs[0], runs[1]);
    assert.notDeepEqual(runs[0], runs[2]);
  } finally {
    await upstream.stop();
  }
});

test("S3 proxy under a latency profile: SlowDown answers real S3's 503 and keeps the body from S3", async () => {
  const upstream = recordingServer();
  const { proxy, slept } = latencyProxy(upstream.port, "put=30,slowdown=1");
  try {
    const answer = await fetch(`${proxy.url}/bucket/a.jpg`, { method: "PUT", body: "abc" });
    assert.equal(answer.status, 503);
    const text = await answer.text();
    assert.match(
      text,
      /<Code>SlowDown<\/Code><Message>Please reduce your request rate.<\/Message>/,
    );
    assert.deepEqual(slept, [30], "the SlowDown took the PUT's time, as S3's would");
    assert.deepEqual(upstream.seen, []);
    assert.equal(proxy.latency().slowDowns, 1);
    // A fault rule that matches wins over the profile's SlowDown.
    proxy.addFault({ operation: "put", status: 500, remaining: 1 });
    assert.match(
      (await call(`${proxy.url}/bucket/a.jpg`, { method: "PUT" })).text,
      /InternalError/,
    );
    assert.equal(proxy.latency().slowDowns, 1);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test("S3 proxy: without a profile nothing waits, and setLatency() turns one on and off", async () => {
  const upstream = recordingServer();
  const { proxy, slept } = latencyProxy(upstream.port, "off");
  try {
    await call(`${proxy.url}/bucket?list-type=2`);
    assert.deepEqual(slept, []);
    assert.equal(proxy.latency().spec, "off");
    proxy.setLatency(parseLatencyProfile("aws,jitter=0"));
    await call(`${proxy.url}/bucket?list-type=2`);
    assert.deepEqual(slept, [100]);
    assert.match(proxy.latency().description, /^aws \(list 100 ms/);
    proxy.setLatency(undefined);
    await call(`${proxy.url}/bucket?list-type=2`);
    assert.deepEqual(slept, [100]);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test("fault control: a latency profile is set, read and removed over HTTP; a bad one is a 400", async () => {
  const upstream = recordingServer();
  const s3 = startS3FaultProxy({ upstream: { hostname: "127.0.0.1", port: upstream.port } });
  const control = startFaultControl({ s3 });
  const send = async (method: string, body?: unknown) => {
    const response = await fetch(`${control.url}/s3/latency`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, json: await response.json() };
  };
  try {
    assert.equal((await send("GET")).json.spec, "off");
    const set = await send("PUT", { spec: "aws,list=5,seed=2" });
    assert.equal(set.status, 200);
    assert.match(set.json.spec, /^aws,list=5,head=25,/);
    assert.equal(s3.latency().profile?.ms.list, 5);
    const bad = await send("PUT", { spec: "list=soon" });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "validation_failed");
    assert.match(bad.json.error.message, /S3_LATENCY="list=soon".*list must be a number/);
    assert.equal((await send("PUT", "aws")).status, 400);
    assert.equal(s3.latency().profile?.ms.list, 5, "a refused profile changes nothing");
    assert.equal((await send("DELETE")).json.spec, "off");
    assert.equal(s3.latency().profile, undefined);
  } finally {
    await control.stop();
    await s3.stop();
    await upstream.stop();
  }
});
