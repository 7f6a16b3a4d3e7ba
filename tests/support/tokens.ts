/**
 * Tokens the harness's stack would accept or refuse, signed as that kind of project signs them
 * (`AUTH_SIGNING`): with its own ES256 key (read from the state folder the harness passes as
 * `STACK_STATE_DIR`), or HS256 with its legacy secret and `kid`. For the cases a sign-in cannot
 * produce: an expired session, a user with no role, a token from another project.
 *
 * @module
 */
import { generateKeyPair, type JWK, SignJWT } from "jose";
import { legacyKid } from "../../scripts/stack/auth_server.ts";
import { type AuthKeyFile, signWithProjectKey } from "../../scripts/stack/keys.ts";
import { stackInfo } from "./stack.ts";

async function projectKey(): Promise<JWK> {
  const dir = Deno.env.get("STACK_STATE_DIR");
  if (!dir) throw new Error("STACK_STATE_DIR is not set: run through `npm run test:integration`");
  const file = JSON.parse(await Deno.readTextFile(`${dir}/auth-keys.json`)) as AuthKeyFile;
  return file.signingKey;
}

/** Claims of a user access token, as the local auth mirror (and GoTrue) issues them. */
export function userClaims(
  overrides: Record<string, unknown> & { sub: string },
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    aud: "authenticated",
    iss: `${stackInfo().API_URL}/auth/v1`,
    role: "authenticated",
    iat: now,
    exp: now + 600,
    app_metadata: { provider: "email", providers: ["email"] },
    ...overrides,
  };
}

/** Signs `claims` HS256 with `secret` and the `kid` the stack's legacy-secret tokens carry. */
export async function hs256Token(
  claims: Record<string, unknown>,
  secret: string | Uint8Array = stackInfo().JWT_SECRET,
): Promise<string> {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", kid: await legacyKid(stackInfo().JWT_SECRET), typ: "JWT" })
    .sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);
}

/** Signs `claims` as the stack's kind of project signs user tokens. */
export async function projectToken(claims: Record<string, unknown>): Promise<string> {
  if (stackInfo().AUTH_SIGNING === "legacy") return await hs256Token(claims);
  return await signWithProjectKey(await projectKey(), claims);
}

/** Signs `claims` with a freshly made key that claims the project's `kid`: a forgery. */
export async function foreignToken(claims: Record<string, unknown>): Promise<string> {
  if (stackInfo().AUTH_SIGNING === "legacy") {
    return await hs256Token(claims, crypto.getRandomValues(new Uint8Array(32)));
  }
  const { privateKey } = await generateKeyPair("ES256");
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: (await projectKey()).kid, typ: "JWT" })
    .sign(privateKey);
}
