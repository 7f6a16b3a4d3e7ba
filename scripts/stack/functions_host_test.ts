import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { checkGatewayJwt, gatewayVerifier } from "./functions_host.ts";
import { newApiKey, signLegacyKey } from "./keys.ts";

const LEGACY_SECRET = "a-legacy-secret-that-is-at-least-32-characters";
const pair = await generateKeyPair("ES256", { extractable: true });
const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] };
const verifier = gatewayVerifier({ legacyJwtSecret: LEGACY_SECRET, jwks });

async function gatewayStatus(token?: string): Promise<number> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const refusal = await checkGatewayJwt(new Request("http://x/", { headers }), verifier);
  return refusal?.status ?? 200;
}

Deno.test("gateway verify_jwt passes the legacy keys and ES256 user tokens, as the CLI's does", async () => {
  assert.equal(await gatewayStatus(await signLegacyKey("anon", LEGACY_SECRET)), 200);
  const user = await new SignJWT({ role: "authenticated" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime("1h")
    .sign(pair.privateKey);
  assert.equal(await gatewayStatus(user), 200);
});

Deno.test("gateway verify_jwt refuses API keys, other secrets, foreign keys and no token", async () => {
  assert.equal(await gatewayStatus(await newApiKey("secret")), 401);
  assert.equal(await gatewayStatus(await signLegacyKey("anon", "x".repeat(40))), 401);
  const foreign = await generateKeyPair("ES256");
  const forged = await new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime("1h")
    .sign(foreign.privateKey);
  assert.equal(await gatewayStatus(forged), 401);
  assert.equal(await gatewayStatus(), 401);
});

Deno.test("newApiKey() has the shape of Supabase's keys", async () => {
  assert.match(
    await newApiKey("publishable"),
    /^sb_publishable_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/,
  );
  assert.match(await newApiKey("secret"), /^sb_secret_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/);
});
