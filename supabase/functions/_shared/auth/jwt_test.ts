import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { bearerToken, createTokenVerifier, TokenError, type TokenProblem } from "./jwt.ts";

const NOW = 1_800_000_000;
const LEGACY_SECRET = "a-legacy-secret-that-is-at-least-32-characters";
const KID = "project-key-1";

const projectPair = await generateKeyPair("ES256", { extractable: true });
const publicJwk: JWK = { ...(await exportJWK(projectPair.publicKey)), kid: KID, alg: "ES256" };
const jwks = { keys: [publicJwk] };

const claims = (extra: Record<string, unknown> = {}) => ({
  sub: "user-1",
  role: "authenticated",
  iat: NOW - 10,
  exp: NOW + 600,
  ...extra,
});

function es256(
  payload: Record<string, unknown>,
  key: CryptoKey = projectPair.privateKey,
  kid = KID,
) {
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid, typ: "JWT" }).sign(key);
}

function hs256(payload: Record<string, unknown>, secret: Uint8Array | string = LEGACY_SECRET) {
  const key = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  return new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
}

const b64 = (value: object) =>
  btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

async function refused(promise: Promise<unknown>, reason: TokenProblem) {
  await assert.rejects(
    promise,
    (error: unknown) => error instanceof TokenError && error.reason === reason,
    reason,
  );
}

const verifier = createTokenVerifier({ jwks, now: () => NOW });

Deno.test("verify() accepts an ES256 user token signed by a key of the project's JWKS", async () => {
  const result = await verifier.verify(await es256(claims({ app_metadata: { role: "admin" } })));
  assert.equal(result.sub, "user-1");
  assert.deepEqual(result.app_metadata, { role: "admin" });
});

Deno.test("verify() refuses a token signed by a foreign key that carries the project's kid", async () => {
  const foreign = await generateKeyPair("ES256");
  await refused(verifier.verify(await es256(claims(), foreign.privateKey)), "signature");
});

Deno.test("verify() calls a token whose kid is not in the JWKS unverifiable (Auth is asked), not forged", async () => {
  const foreign = await generateKeyPair("ES256");
  await refused(
    verifier.verify(await es256(claims(), foreign.privateKey, "other")),
    "unverifiable",
  );
});

Deno.test("verify() refuses alg none, even with a plausible payload", async () => {
  const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${b64(claims({ role: "service_role" }))}.`;
  await refused(verifier.verify(unsigned), "algorithm");
  const withLegacy = createTokenVerifier({ jwks, legacySecret: LEGACY_SECRET, now: () => NOW });
  await refused(withLegacy.verify(unsigned), "algorithm");
});

Deno.test("verify() refuses HS256 signed with the project's public key (algorithm confusion)", async () => {
  const publicKeyBytes = new TextEncoder().encode(JSON.stringify(publicJwk));
  const confused = await hs256(claims({ role: "service_role" }), publicKeyBytes);
  await refused(verifier.verify(confused), "unverifiable");
  const withLegacy = createTokenVerifier({ jwks, legacySecret: LEGACY_SECRET, now: () => NOW });
  await refused(withLegacy.verify(confused), "signature");
});

Deno.test("verify() refuses expired tokens, tokens not valid yet and tokens without exp", async () => {
  await refused(verifier.verify(await es256(claims({ exp: NOW - 1 }))), "expired");
  await refused(verifier.verify(await es256(claims({ nbf: NOW + 60 }))), "not_yet_valid");
  const { exp: _exp, ...noExp } = claims();
  await refused(verifier.verify(await es256(noExp)), "claims");
});

Deno.test("verify() takes legacy HS256 tokens only when a legacy secret is configured", async () => {
  const legacy = await hs256(claims());
  await refused(verifier.verify(legacy), "unverifiable");
  const withLegacy = createTokenVerifier({ jwks, legacySecret: LEGACY_SECRET, now: () => NOW });
  assert.equal((await withLegacy.verify(legacy)).sub, "user-1");
  await refused(withLegacy.verify(await hs256(claims(), "x".repeat(40))), "signature");
  const { exp: _exp, ...noExp } = claims();
  await refused(withLegacy.verify(await hs256(noExp)), "claims");
});

Deno.test("verify() refuses a tampered payload and malformed tokens", async () => {
  const [header, , signature] = (await es256(claims())).split(".");
  const forged = `${header}.${b64(claims({ role: "service_role" }))}.${signature}`;
  await refused(verifier.verify(forged), "signature");
  await refused(verifier.verify("abc"), "malformed");
  await refused(verifier.verify("a.b.c"), "malformed");
});

Deno.test("verify() fetches a remote JWKS once and caches it", async () => {
  let fetches = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    fetches++;
    return Response.json(jwks);
  });
  try {
    const remote = createTokenVerifier({
      jwksUrl: new URL(`http://127.0.0.1:${server.addr.port}/auth/v1/.well-known/jwks.json`),
      now: () => NOW,
    });
    assert.equal((await remote.verify(await es256(claims()))).sub, "user-1");
    assert.equal((await remote.verify(await es256(claims({ sub: "user-2" })))).sub, "user-2");
    assert.equal(fetches, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("verify() reports an unreachable JWKS as keys_unavailable, not as a bad token", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const remote = createTokenVerifier({ jwksUrl: new URL(`http://127.0.0.1:${port}/jwks`) });
  await refused(remote.verify(await es256(claims({ exp: NOW * 2 }))), "keys_unavailable");
});

Deno.test("createTokenVerifier() with no keys cannot verify anything", async () => {
  const none = createTokenVerifier({});
  await refused(none.verify(await es256(claims())), "unverifiable");
});

Deno.test("bearerToken() reads only a well-formed Bearer header", () => {
  const request = (value?: string) =>
    new Request("http://x/", { headers: value ? { authorization: value } : {} });
  assert.equal(bearerToken(request("Bearer abc.def.ghi")), "abc.def.ghi");
  assert.equal(bearerToken(request("bearer xyz")), "xyz");
  assert.equal(bearerToken(request("Basic abc")), undefined);
  assert.equal(bearerToken(request()), undefined);
});

Deno.test("verify() refetches the JWKS once for an unknown kid (keys rotate), at most once per cooldown", async () => {
  const rotated = await generateKeyPair("ES256", { extractable: true });
  const rotatedJwk: JWK = { ...(await exportJWK(rotated.publicKey)), kid: "k2", alg: "ES256" };
  let fetches = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    fetches++;
    return Response.json({ keys: [publicJwk, rotatedJwk] });
  });
  try {
    const injectedOnly = createTokenVerifier({
      jwks,
      jwksUrl: new URL(`http://127.0.0.1:${server.addr.port}/auth/v1/.well-known/jwks.json`),
      now: () => NOW,
    });
    assert.equal((await injectedOnly.verify(await es256(claims()))).sub, "user-1");
    assert.equal(fetches, 0, "a known kid needs no fetch");
    const newer = await es256(claims({ sub: "user-3" }), rotated.privateKey, "k2");
    assert.equal((await injectedOnly.verify(newer)).sub, "user-3");
    assert.equal(fetches, 1);
    const stranger = await generateKeyPair("ES256");
    await refused(
      injectedOnly.verify(await es256(claims(), stranger.privateKey, "k3")),
      "unverifiable",
    );
    await refused(
      injectedOnly.verify(await es256(claims(), stranger.privateKey, "k4")),
      "unverifiable",
    );
    assert.equal(fetches, 1, "unknown kids within the cooldown do not refetch");
  } finally {
    await server.shutdown();
  }
});

Deno.test("verify() takes HS256 against an oct key of the JWKS, never against a public key", async () => {
  const k = btoa(LEGACY_SECRET).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const legacyProject = createTokenVerifier({
    jwks: { keys: [{ kty: "oct", k }] },
    now: () => NOW,
  });
  assert.equal((await legacyProject.verify(await hs256(claims()))).sub, "user-1");
  await refused(legacyProject.verify(await hs256(claims(), "y".repeat(40))), "signature");
  await refused(verifier.verify(await hs256(claims(), JSON.stringify(jwks))), "unverifiable");
});
