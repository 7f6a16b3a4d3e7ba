/**
 * Who is calling, decided inside the function on every request and failing closed: the gateway's
 * `verify_jwt` is off (it cannot check asymmetric tokens or the new API keys everywhere), so
 * nothing here trusts an unverified claim. Every refusal is a JSON 401; an Auth API that cannot
 * be reached when it must be asked is a 503 `auth_unavailable`, never a pass.
 *
 * Credentials, as supabase-js and Supabase's docs send them:
 * - `apikey: sb_secret_…` (one of `SUPABASE_SECRET_KEYS`) → `service_role`;
 *   `apikey: sb_publishable_…` → `anon`. supabase-js also repeats the key as the bearer when no
 *   user is signed in.
 * - `Authorization: Bearer <user JWT>` → verified locally (`jwt.ts`: the JWKS for signing keys,
 *   the injected `oct` key for a project on the legacy secret); it must carry `aud`
 *   `authenticated` and the project's Auth URL as `iss`. A token no local key fits (an unknown
 *   `kid` after one refetch, HS256 without the secret) is checked with `GET /auth/v1/user`, as
 *   auth-js does (`auth_api.ts`). Role `authenticated`, refined by `app_metadata.role`
 *   (`roles.ts`).
 * - The legacy `SUPABASE_ANON_KEY`/`SUPABASE_SERVICE_ROLE_KEY` JWTs (by their injected value, or
 *   any token signed like them), only while the project still accepts legacy API keys: the
 *   platform injects them even after an owner disabled them, so the Auth API is asked (cached a
 *   minute), or they are refused outright with `LEGACY_API_KEYS=disabled`.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { decodeJwt } from "jose";
import { AppError, ERRORS } from "../errors.ts";
import { type AuthApi, createAuthApi } from "./auth_api.ts";
import { type Caller, roleOf } from "./roles.ts";
import {
  bearerToken,
  createTokenVerifier,
  type JwtClaims,
  TokenError,
  type TokenVerifier,
} from "./jwt.ts";
import type { AuthSettings } from "./settings.ts";

/** Turns a request's credentials into a {@linkcode Caller}. */
export interface Authenticator {
  authenticate(request: Request): Promise<Caller>;
}

/** What {@linkcode createAuthenticator} may be given instead of its defaults (tests). */
export interface AuthenticatorParts {
  verifier?: TokenVerifier;
  authApi?: AuthApi;
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

/** The API roles a legacy key JWT carries; any other verified token is a user's. */
const LEGACY_KEY_ROLES = new Set(["anon", "service_role"]);

function hasAudience(claims: JwtClaims, audience: string): boolean {
  return Array.isArray(claims.aud) ? claims.aud.includes(audience) : claims.aud === audience;
}

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
  parts: AuthenticatorParts = {},
): Authenticator {
  const jwksUrl = settings.supabaseUrl
    ? new URL(`${settings.supabaseUrl}/auth/v1/.well-known/jwks.json`)
    : undefined;
  const verifier = parts.verifier ?? createTokenVerifier({
    jwks: settings.jwks,
    jwksUrl,
    legacySecret: settings.legacyJwtSecret,
  });
  const authApi = parts.authApi ?? (settings.supabaseUrl
    ? createAuthApi({
      supabaseUrl: settings.supabaseUrl,
      apiKey: settings.publishableKeys[0] ?? settings.anonKey,
    })
    : undefined);
  // The Auth API lives at SUPABASE_URL, so without it only local keys can verify a user.
  const canVerifyUsers = Boolean(
    settings.jwks?.keys.length || settings.supabaseUrl || settings.legacyJwtSecret,
  );
  const hasKeys = settings.publishableKeys.length > 0 || settings.secretKeys.length > 0 ||
    Boolean(settings.anonKey || settings.serviceRoleKey);

  /** The role an `sb_` key grants, or undefined when it is none of this project's. */
  function apiKeyRole(key: string): "anon" | "service_role" | undefined {
    if (settings.secretKeys.some((k) => sameSecret(key, k))) return "service_role";
    if (settings.publishableKeys.some((k) => sameSecret(key, k))) return "anon";
    return undefined;
  }

  /** Whether `key` is one of the injected legacy JWT keys (before asking if it still works). */
  function legacyKeyRole(key: string): "anon" | "service_role" | undefined {
    if (settings.serviceRoleKey && sameSecret(key, settings.serviceRoleKey)) return "service_role";
    if (settings.anonKey && sameSecret(key, settings.anonKey)) return "anon";
    return undefined;
  }

  /** A legacy API key's caller, once the project is known to still accept legacy keys. */
  async function legacyKeyCaller(key: string, role: "anon" | "service_role"): Promise<Caller> {
    if (settings.legacyApiKeys === "disabled") {
      throw ERRORS.InvalidToken("Legacy API keys are disabled for this project");
    }
    if (!authApi) {
      throw ERRORS.InvalidToken(
        "Legacy API keys cannot be checked here (SUPABASE_URL is not set); use a publishable or secret key",
      );
    }
    if (!(await authApi.acceptsLegacyKey(key))) {
      throw ERRORS.InvalidToken("Legacy API keys are disabled for this project");
    }
    return keyCaller(role);
  }

  /** A user known from the Auth API (`GET /auth/v1/user`), when no local key fits the token. */
  async function callerFromAuthApi(token: string): Promise<Caller> {
    if (!authApi) {
      throw ERRORS.InvalidToken("The bearer token is not signed by a key this function has");
    }
    const exp = unverifiedExpiry(token);
    const user = await authApi.userOf(token, exp);
    if (!user) throw ERRORS.InvalidToken("The project's Auth service does not accept this token");
    const claims: JwtClaims = {
      sub: user.id,
      role: user.role ?? "authenticated",
      email: user.email,
      app_metadata: user.app_metadata,
    };
    const role = roleOf(claims);
    return { role, id: user.id, email: user.email, claims };
  }

  async function callerFromToken(token: string): Promise<Caller> {
    let claims: JwtClaims;
    try {
      claims = await verifier.verify(token);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      if (error.reason === "unverifiable") return await callerFromAuthApi(token);
      if (error.reason === "expired") {
        throw ERRORS.TokenExpired("Your session has expired; sign in again");
      }
      if (error.reason === "keys_unavailable") {
        throw ERRORS.AuthUnavailable("Sign-in keys are unavailable right now; try again");
      }
      throw ERRORS.InvalidToken(`The bearer token is not valid: ${error.message}`);
    }
    if (typeof claims.role === "string" && LEGACY_KEY_ROLES.has(claims.role)) {
      // Signed with the project's legacy secret and naming an API role: a legacy API key.
      return await legacyKeyCaller(token, claims.role as "anon" | "service_role");
    }
    if (!hasAudience(claims, "authenticated")) {
      throw ERRORS.InvalidToken('The bearer token is not valid: its "aud" is not authenticated');
    }
    if (settings.issuer && claims.iss !== settings.issuer) {
      throw ERRORS.InvalidToken(
        "The bearer token is not valid: it was not issued by this project's Auth",
      );
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
      if (!hasKeys && !canVerifyUsers) {
        throw ERRORS.Misconfigured(
          "No way to verify callers is configured (SUPABASE_JWKS, SUPABASE_URL, API keys)",
        );
      }
      const apikey = request.headers.get("apikey")?.trim() || undefined;
      const apikeyRole = apikey ? apiKeyRole(apikey) : undefined;
      const apikeyLegacy = apikey && !apikeyRole ? legacyKeyRole(apikey) : undefined;
      if (apikey && !apikeyRole && !apikeyLegacy) {
        throw ERRORS.InvalidToken("The apikey header is not one of this project's API keys");
      }
      // Holding a secret key is the strongest credential; a bearer next to it changes nothing.
      if (apikeyRole === "service_role") return keyCaller("service_role");
      if (apikeyLegacy === "service_role") {
        return await legacyKeyCaller(apikey!, "service_role");
      }

      const hasAuthorization = request.headers.has("authorization");
      const token = bearerToken(request);
      if (hasAuthorization && !token) {
        throw ERRORS.InvalidToken("The Authorization header must be `Bearer <token>`");
      }
      if (token) {
        const tokenRole = apiKeyRole(token);
        if (tokenRole) return keyCaller(tokenRole);
        const tokenLegacy = legacyKeyRole(token);
        if (tokenLegacy) return await legacyKeyCaller(token, tokenLegacy);
        if (token.startsWith("sb_")) {
          throw ERRORS.InvalidToken("The bearer is not one of this project's API keys");
        }
        if (!canVerifyUsers) {
          throw ERRORS.Misconfigured(
            "Cannot verify tokens: neither SUPABASE_JWKS, SUPABASE_URL nor LEGACY_JWT_SECRET is set",
          );
        }
        return await callerFromToken(token);
      }
      if (apikeyRole) return keyCaller(apikeyRole);
      if (apikeyLegacy) return await legacyKeyCaller(apikey!, apikeyLegacy);
      throw ERRORS.Unauthorized("Sign in first: the request has no bearer token or API key");
    },
  };
}

/** A token's `exp` read without verifying it: only to bound how long a verdict is kept. */
function unverifiedExpiry(token: string): number | undefined {
  try {
    return decodeJwt(token).exp;
  } catch {
    return undefined;
  }
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
