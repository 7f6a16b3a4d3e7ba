import assert from "node:assert/strict";
import { base64url, exportJWK, generateKeyPair, SignJWT } from "jose";
import { checkGatewayJwt, startFunctionsHost } from "./functions_host.ts";
import { freePort } from "./process.ts";
import { createGatewayVerifier } from "./gateway_jwt.ts";
import { newApiKey, signLegacyKey } from "./keys.ts";

const LEGACY_SECRET = "a-legacy-secret-that-is-at-least-32-characters";
const es256 = await generateKeyPair("ES256", { extractable: true });
const rs256 = await generateKeyPair("RS256", { extractable: true });
const jwks = {
  keys: [
    { ...(await exportJWK(es256.publicKey)), kid: "k1", alg: "ES256" },
    { ...(await exportJWK(rs256.publicKey)), kid: "k2", alg: "RS256" },
  ],
};
const verify = createGatewayVerifier({ legacyJwtSecret: LEGACY_SECRET, jwks });
const hour = () => Math.floor(Date.now() / 1000) + 3600;

/** What the gateway answers: 200 when it lets the request through, else its status and code. */
async function gateway(token?: string): Promise<string> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const refusal = await checkGatewayJwt(new Request("http://x/", { headers }), verify);
  if (!refusal) return "200";
  const { error } = await refusal.json();
  return `${refusal.status} ${error.code}`;
}

function userToken(
  key: CryptoKey,
  header: { alg: string; kid?: string },
  exp: number | string = "1h",
) {
  return new SignJWT({ role: "authenticated", sub: "u1" }).setProtectedHeader(header)
    .setExpirationTime(exp).sign(key);
}

/** A token whose header and claims are as given and whose signature part is `signature`. */
function handMade(header: object, claims: object, signature = ""): string {
  const part = (value: object) => base64url.encode(JSON.stringify(value));
  return `${part(header)}.${part(claims)}.${signature}`;
}

Deno.test("gateway verify_jwt passes the legacy keys and ES256/RS256 user tokens, as the CLI's does", async () => {
  assert.equal(await gateway(await signLegacyKey("anon", LEGACY_SECRET)), "200");
  assert.equal(await gateway(await signLegacyKey("service_role", LEGACY_SECRET)), "200");
  assert.equal(
    await gateway(await userToken(es256.privateKey, { alg: "ES256", kid: "k1" })),
    "200",
  );
  assert.equal(
    await gateway(await userToken(rs256.privateKey, { alg: "RS256", kid: "k2" })),
    "200",
  );
});

Deno.test("gateway verify_jwt refuses tokens signed with a wrong key, whatever the algorithm", async () => {
  const foreign = await generateKeyPair("ES256");
  const forged = await userToken(foreign.privateKey, { alg: "ES256", kid: "k1" });
  assert.equal(await gateway(forged), "401 invalid_token");
  const otherSecret = await signLegacyKey("service_role", "x".repeat(40));
  assert.equal(await gateway(otherSecret), "401 invalid_token");
  // Algorithm confusion: an HS256 token keyed with the project's public key.
  const publicJwk = JSON.stringify(jwks.keys[0]);
  const confused = await new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
    .sign(new TextEncoder().encode(publicJwk));
  assert.equal(await gateway(confused), "401 invalid_token");
});

Deno.test("gateway verify_jwt refuses expired tokens with token_expired", async () => {
  const past = Math.floor(Date.now() / 1000) - 60;
  const user = await userToken(es256.privateKey, { alg: "ES256", kid: "k1" }, past);
  assert.equal(await gateway(user), "401 token_expired");
  const legacy = await new SignJWT({ role: "anon" }).setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(past).sign(new TextEncoder().encode(LEGACY_SECRET));
  assert.equal(await gateway(legacy), "401 token_expired");
});

Deno.test("gateway verify_jwt refuses alg:none, other algorithms, API keys, junk and no token", async () => {
  const claims = { role: "service_role", exp: hour() };
  assert.equal(await gateway(handMade({ alg: "none", typ: "JWT" }, claims)), "401 invalid_token");
  // An alg:none token carrying the signature of a valid one is still refused.
  const valid = await signLegacyKey("service_role", LEGACY_SECRET);
  const stolen = valid.split(".")[2];
  assert.equal(await gateway(handMade({ alg: "none" }, claims, stolen)), "401 invalid_token");
  const ps256 = await generateKeyPair("PS256");
  assert.equal(
    await gateway(await userToken(ps256.privateKey, { alg: "PS256", kid: "k2" })),
    "401 invalid_token",
  );
  assert.equal(await gateway(await newApiKey("secret")), "401 invalid_token");
  assert.equal(await gateway("not-a-jwt"), "401 invalid_token");
  assert.equal(await gateway(), "401 unauthorized");
});

Deno.test("newApiKey() has the shape of Supabase's keys", async () => {
  assert.match(
    await newApiKey("publishable"),
    /^sb_publishable_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/,
  );
  assert.match(await newApiKey("secret"), /^sb_secret_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/);
});

/**
 * A host over two tiny functions in a temporary folder: `gated` (verify_jwt on) and `open`
 * (verify_jwt off; like ours it answers a caller without credentials 401 itself, without
 * reading the body, and otherwise reads the whole body and says how long it was). With a
 * credential, `…/heap` answers V8's heap statistics and `…/hog` allocates without end.
 */
async function tinyHost(options: { wallClockMs?: number; maxBodyBytes?: number } = {}) {
  const dir = await Deno.makeTempDir();
  const fn = `import { getHeapStatistics } from "node:v8";
export default {
  async fetch(request: Request) {
    if (!request.headers.get("authorization")) {
      return Response.json({ error: { code: "unauthorized" } }, { status: 401 });
    }
    const path = new URL(request.url).pathname;
    if (path.endsWith("/heap")) return Response.json(getHeapStatistics());
    if (path.endsWith("/hog")) {
      const held = [];
      while (true) held.push(new Array(1_000_000).fill(held.length + 0.5));
    }
    return Response.json({ bytes: (await request.arrayBuffer()).byteLength });
  },
};
`;
  for (const name of ["gated", "open"]) {
    await Deno.mkdir(`${dir}/functions/${name}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/functions/${name}/index.ts`, fn);
  }
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    "[functions.gated]\nverify_jwt = true\n[functions.open]\nverify_jwt = false\n",
  );
  const secretKey = await newApiKey("secret");
  const port = freePort();
  const host = await startFunctionsHost({
    port,
    gatewayKeys: { legacyJwtSecret: LEGACY_SECRET, jwks },
    functionEnv: { SUPABASE_SECRET_KEYS: JSON.stringify({ default: secretKey }) },
    functionsDir: `${dir}/functions`,
    logDir: dir,
    configPath: `${dir}/config.toml`,
    ...options,
  });
  return {
    port,
    secretKey,
    async workerPids(): Promise<Record<string, number>> {
      const response = await fetch(`${host.url}/_host/functions`, {
        headers: { apikey: secretKey },
      });
      const { functions } = await response.json();
      return Object.fromEntries(
        functions.map((f: { name: string; pid: number }) => [f.name, f.pid]),
      );
    },
    async stop() {
      await host.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Sends a request head and the first `sent` bytes of a body declared `declared` bytes long, then
 * stalls; resolves with the status line of the answer (or "closed").
 */
async function stalledRequest(
  port: number,
  path: string,
  options: { declared: number; sent: number; headers?: Record<string, string> },
): Promise<{ status: string; elapsedMs: number; close(): void }> {
  const started = Date.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = [
    `POST ${path} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    "content-type: application/octet-stream",
    `content-length: ${options.declared}`,
    ...Object.entries(options.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
    "",
    "",
  ].join("\r\n");
  await conn.write(new TextEncoder().encode(head));
  conn.write(new Uint8Array(options.sent)).catch(() => {}); // may block: nobody reads it all
  const buffer = new Uint8Array(4096);
  const n = await conn.read(buffer).catch(() => null);
  const status = n ? new TextDecoder().decode(buffer.subarray(0, n)).split("\r\n")[0] : "closed";
  const close = () => {
    try {
      conn.close();
    } catch { /* closed already */ }
  };
  return { status, elapsedMs: Date.now() - started, close };
}

const hostTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeResources: false, sanitizeOps: false, fn });

hostTest("functions host: a verify_jwt function's 401 comes before any of the body", async () => {
  const host = await tinyHost();
  try {
    const answer = await stalledRequest(host.port, "/functions/v1/gated", {
      declared: 8 * 1024 * 1024,
      sent: 10,
    });
    answer.close();
    assert.equal(answer.status, "HTTP/1.1 401 Unauthorized");
    assert.ok(answer.elapsedMs < 5_000, `answered after ${answer.elapsedMs} ms`);
  } finally {
    await host.stop();
  }
});

hostTest(
  "functions host: a function with verify_jwt off answers a caller without credentials itself, body still arriving",
  async () => {
    const host = await tinyHost();
    try {
      const answer = await stalledRequest(host.port, "/functions/v1/open", {
        declared: 8 * 1024 * 1024,
        sent: 64 * 1024,
      });
      answer.close();
      assert.equal(answer.status, "HTTP/1.1 401 Unauthorized");
    } finally {
      await host.stop();
    }
  },
);

hostTest(
  "functions host: a body still arriving at the wall clock is 504 and the worker is kept",
  async () => {
    const host = await tinyHost({ wallClockMs: 1_500 });
    try {
      const before = await host.workerPids();
      // Streamed (a credential the host cannot verify) and read whole (a known key) alike.
      for (
        const headers of [{ authorization: "Bearer not-a-jwt" }, {
          authorization: `Bearer ${host.secretKey}`,
        }]
      ) {
        const answer = await stalledRequest(host.port, "/functions/v1/open", {
          declared: 1024 * 1024,
          sent: 1024,
          headers,
        });
        answer.close();
        assert.equal(answer.status, "HTTP/1.1 504 Gateway Timeout", JSON.stringify(headers));
        assert.ok(answer.elapsedMs >= 1_400 && answer.elapsedMs < 10_000, `${answer.elapsedMs} ms`);
      }
      const response = await fetch(`http://127.0.0.1:${host.port}/functions/v1/open`, {
        method: "POST",
        headers: { authorization: "Bearer x" },
        body: new Uint8Array(1000),
      });
      assert.deepEqual(await response.json(), { bytes: 1000 });
      assert.deepEqual(await host.workerPids(), before, "the worker was not restarted");
    } finally {
      await host.stop();
    }
  },
);

hostTest(
  "functions host: the body limit holds by Content-Length and while a chunked body streams",
  async () => {
    const host = await tinyHost({ maxBodyBytes: 1024 * 1024 });
    try {
      const declared = await stalledRequest(host.port, "/functions/v1/open", {
        declared: 2 * 1024 * 1024,
        sent: 0,
        headers: { authorization: "Bearer x" },
      });
      declared.close();
      assert.equal(declared.status, "HTTP/1.1 413 Payload Too Large");
      const chunks = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 40; i++) controller.enqueue(new Uint8Array(64 * 1024));
          controller.close();
        },
      });
      const response = await fetch(`http://127.0.0.1:${host.port}/functions/v1/open`, {
        method: "POST",
        headers: { authorization: "Bearer x" },
        body: chunks,
      });
      const body = await response.json();
      assert.equal(response.status, 413, JSON.stringify(body));
      assert.equal(body.error.code, "payload_too_large");
      const small = await fetch(`http://127.0.0.1:${host.port}/functions/v1/open`, {
        method: "POST",
        headers: { authorization: "Bearer x" },
        body: new Uint8Array(1024 * 1024),
      });
      assert.deepEqual(await small.json(), { bytes: 1024 * 1024 });
    } finally {
      await host.stop();
    }
  },
);

hostTest(
  "functions host: each worker gets the edge runtime's 256 MB heap, and one that outgrows it is stopped and replaced",
  async () => {
    const host = await tinyHost();
    const open = `http://127.0.0.1:${host.port}/functions/v1/open`;
    const headers = { authorization: "Bearer x" };
    try {
      const heap = await (await fetch(`${open}/heap`, { headers })).json();
      // V8 reports the limit it derived from 256 MiB (old and young generations), not 256 exactly.
      const limitMiB = heap.heap_size_limit / 1024 / 1024;
      assert.ok(limitMiB > 200 && limitMiB <= 300, `heap_size_limit ${limitMiB} MiB`);
      const pid = (await host.workerPids()).open;
      const hog = await fetch(`${open}/hog`, { headers });
      const refusal = await hog.json();
      assert.equal(hog.status, 502, JSON.stringify(refusal));
      assert.equal(refusal.error.code, "function_crashed");
      const after = await fetch(open, { method: "POST", headers, body: "four" });
      assert.deepEqual(await after.json(), { bytes: 4 });
      assert.notEqual((await host.workerPids()).open, pid);
    } finally {
      await host.stop();
    }
  },
);
