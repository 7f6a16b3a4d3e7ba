/**
 * Who is calling, decided inside the function on every request and failing closed: the gateway's
 * `verify_jwt` is off (it cannot check asymmetric tokens or the new API keys everywhere), so
 * nothing here trusts an unverified claim.
 *
 * Credentials, as supabase-js and Supabase's docs send them:
 * - `apikey: sb_secret_…` (one of `SUPABASE_SECRET_KEYS`) → `service_role`;
 *   `apikey: sb_publishable_…` → `anon`. supabase-js also repeats the key as the bearer when no
 *   user is signed in.
 * - `Authorization: Bearer <user JWT>` → verified against the project's JWKS (or the legacy
 *   secret for HS256); role `authenticated`, refined by `app_metadata.role` (`manager`, `admin`),
 *   which only the service role can write. A role in `user_metadata` gives nothing.
 * - The legacy `SUPABASE_ANON_KEY`/`SUPABASE_SERVICE_ROLE_KEY` JWTs, recognised by their exact
 *   injected value (hosted never gives functions the secret that signed them), or verified with
 *   `LEGACY_JWT_SECRET` when the operator set it.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { AppError, ERRORS } from "../errors.ts";
import { type Caller, roleOf } from "./roles.ts";
import { bearerToken, createTokenVerifier, type JwtClaims, TokenError } from "./jwt.ts";
import type { TokenVerifier } from "./jwt.ts";
import type { AuthSettings } from "./settings.ts";

/** Turns a request's credentials into a {@linkcode Caller}. */
export interface Authenticator {
  authenticate(request: Request): Promise<Caller>;
}

/**
 * Compares secrets in constant time (`node:crypto`), so how much of a guessed key matched never
 * shows in the answer's timing. Keys of different lengths are compared by their SHA-256 digests,
 * which are always 32 bytes, so the length does not show either.
 */
function sameSecret(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}

const keyCaller = (role: "anon" | "service_role"): Caller => ({ role, id: role, claims: {} });

/**
 * An authenticator over `settings`.
 *
 * @example
 * ```ts
 * const auth = createAuthenticator(authSettingsFromEnv(Deno.env.toObject()));
 * const caller = await auth.authenticate(request); // throws 401 AppError when refused
 * ```
 */
export function createAuthenticator(
  settings: AuthSettings,
  verifier: TokenVerifier = createTokenVerifier({
    jwks: settings.jwks,
    jwksUrl: settings.supabaseUrl
      ? new URL(`${settings.supabaseUrl.replace(/\/+$/, "")}/auth/v1/.well-known/jwks.json`)
      : undefined,
    legacySecret: settings.legacyJwtSecret,
  }),
): Authenticator {
  const hasKeys = settings.publishableKeys.length > 0 || settings.secretKeys.length > 0 ||
    Boolean(settings.anonKey || settings.serviceRoleKey);

  /** The role an API key grants, or undefined when it is none of this project's keys. */
  function keyRole(key: string): "anon" | "service_role" | undefined {
    const secret = [...settings.secretKeys, settings.serviceRoleKey];
    if (secret.some((k) => k !== undefined && sameSecret(key, k))) return "service_role";
    const publishable = [...settings.publishableKeys, settings.anonKey];
    if (publishable.some((k) => k !== undefined && sameSecret(key, k))) return "anon";
    return undefined;
  }

  async function verifyUserToken(token: string): Promise<Caller> {
    if (!verifier.canVerify) {
      throw ERRORS.Misconfigured(
        "Cannot verify tokens: neither SUPABASE_JWKS, SUPABASE_URL nor LEGACY_JWT_SECRET is set",
      );
    }
    let claims: JwtClaims;
    try {
      claims = await verifier.verify(token);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      if (error.reason === "expired") {
        throw ERRORS.TokenExpired("Your session has expired; sign in again");
      }
      if (error.reason === "keys_unavailable") {
        throw ERRORS.AuthUnavailable("Sign-in keys are unavailable right now; try again");
      }
      throw ERRORS.InvalidToken(`The bearer token is not valid: ${error.message}`);
    }
    const role = roleOf(claims);
    return {
      role,
      id: claims.sub ?? role,
      email: typeof claims.email === "string" ? claims.email : undefined,
      claims,
    };
  }

  return {
    async authenticate(request) {
      if (!hasKeys && !verifier.canVerify) {
        throw ERRORS.Misconfigured(
          "No way to verify callers is configured (SUPABASE_JWKS, SUPABASE_URL, API keys)",
        );
      }
      const apikey = request.headers.get("apikey")?.trim() || undefined;
      const apikeyRole = apikey ? keyRole(apikey) : undefined;
      if (apikey && !apikeyRole) {
        throw ERRORS.InvalidToken("The apikey header is not one of this project's API keys");
      }
      // Holding a secret key is the strongest credential; a bearer next to it changes nothing.
      if (apikeyRole === "service_role") return keyCaller("service_role");

      const hasAuthorization = request.headers.has("authorization");
      const token = bearerToken(request);
      if (hasAuthorization && !token) {
        throw ERRORS.InvalidToken("The Authorization header must be `Bearer <token>`");
      }
      if (token) {
        const tokenRole = keyRole(token);
        if (tokenRole) return keyCaller(tokenRole);
        if (token.startsWith("sb_")) {
          throw ERRORS.InvalidToken("The bearer is not one of this project's API keys");
        }
        return await verifyUserToken(token);
      }
      if (apikeyRole) return keyCaller(apikeyRole);
      throw ERRORS.Unauthorized("Sign in first: the request has no bearer token or API key");
    },
  };
}

/**
 * Reads and verifies the caller's credentials with `authenticator`.
 *
 * @throws 401 AppError (`unauthorized`, `invalid_token`, `token_expired`) when refused; 500
 * `misconfigured` when the function has no way to verify anyone; anything unexpected becomes a
 * 500 without internals.
 */
export async function authenticate(
  request: Request,
  authenticator: Authenticator,
): Promise<Caller> {
  try {
    return await authenticator.authenticate(request);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw ERRORS.Internal("Authentication failed unexpectedly");
  }
}
