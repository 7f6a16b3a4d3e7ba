/**
 * Callers for unit tests: the test project's keys, an authenticator built as a composition root
 * builds its own, and requests signed as each role.
 *
 * @module
 */
import { SignJWT } from "jose";
import { type Authenticator, createAuthenticator } from "../authenticate.ts";
import type { AuthSettings } from "../settings.ts";

/** The project keys the handler tests' process environment carries (fixed: env is shared). */
export const TEST_KEYS = {
  publishable: "sb_publishable_UNITUNITUNITUNITUNITUN_aaaaaaaa",
  secret: "sb_secret_UNITUNITUNITUNITUNITUNIT_bbbbbbbb",
  legacyJwtSecret: "unit-tests-legacy-jwt-secret-at-least-32-chars",
};

/** The auth settings of the unit tests' project: its API keys and a legacy HS256 secret. */
export const TEST_AUTH_SETTINGS: AuthSettings = {
  publishableKeys: [TEST_KEYS.publishable],
  secretKeys: [TEST_KEYS.secret],
  legacyJwtSecret: TEST_KEYS.legacyJwtSecret,
  legacyApiKeys: "auto",
};

/**
 * An authenticator that accepts the tokens {@linkcode headersFor} signs, built as a function's
 * composition root builds its own (no environment involved).
 */
export function testAuthenticator(): Authenticator {
  return createAuthenticator(TEST_AUTH_SETTINGS);
}

/** Who a test request comes from. */
export type TestCaller =
  | "none"
  | "anon"
  | "authenticated"
  | "user_metadata_admin"
  | "manager"
  | "admin"
  | "service";

/** Headers of a request from `who`, as supabase-js sends them. */
export function headersFor(
  who: TestCaller,
  sub = "user-1",
): Promise<Record<string, string>> {
  const user = (claims: Record<string, unknown>) =>
    new SignJWT({
      role: "authenticated",
      aud: "authenticated",
      sub,
      email: `${sub}@example.test`,
      ...claims,
    })
      .setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("10m")
      .sign(new TextEncoder().encode(TEST_KEYS.legacyJwtSecret));
  const bearer = async (token: string | Promise<string>) => ({
    apikey: TEST_KEYS.publishable,
    authorization: `Bearer ${await token}`,
  });
  switch (who) {
    case "none":
      return Promise.resolve({});
    case "anon":
      return bearer(TEST_KEYS.publishable);
    case "authenticated":
      return bearer(user({}));
    case "user_metadata_admin":
      return bearer(user({ user_metadata: { role: "admin" } }));
    case "manager":
    case "admin":
      return bearer(user({ app_metadata: { role: who } }));
    case "service":
      return Promise.resolve({
        apikey: TEST_KEYS.secret,
        authorization: `Bearer ${TEST_KEYS.secret}`,
      });
  }
}

/** A JSON request to `path` of function `fn` from `who`. */
export async function requestAs(
  who: TestCaller,
  method: string,
  url: string,
  body?: unknown,
  sub?: string,
): Promise<Request> {
  const headers = await headersFor(who, sub);
  if (body !== undefined) headers["content-type"] = "application/json";
  return new Request(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
