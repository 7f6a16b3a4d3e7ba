/**
 * Tokens the harness's stack would accept or refuse, signed with its own ES256 key (read from
 * the state folder the harness passes as `STACK_STATE_DIR`), for the cases a sign-in cannot
 * produce: an expired session, a user with no role, a token from another project.
 *
 * @module
 */
import { generateKeyPair, type JWK, SignJWT } from "jose";
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

/** Signs `claims` with the stack's project key (ES256, its `kid`). */
export async function projectToken(claims: Record<string, unknown>): Promise<string> {
  return await signWithProjectKey(await projectKey(), claims);
}

/** Signs `claims` with a freshly made key that claims the project's `kid`: a forgery. */
export async function foreignToken(claims: Record<string, unknown>): Promise<string> {
  const { privateKey } = await generateKeyPair("ES256");
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: (await projectKey()).kid, typ: "JWT" })
    .sign(privateKey);
}
