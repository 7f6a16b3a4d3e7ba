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
import { AppError, ERRORS } from "../errors.ts";
import { bearerToken, createTokenVerifier, type JwtClaims, TokenError } from "./jwt.ts";
import type { TokenVerifier } from "./jwt.ts";
import { type AuthSettings, authSettingsFromEnv } from "./settings.ts";

/** What a caller may do, from least to most. */
export type CallerRole = "anon" | "authenticated" | "manager" | "admin" | "service_role";

/** The authenticated caller. */
export interface Caller {
  role: CallerRole;
  /** `sub` (user id), or the API role for keys without a user. */
  id: string;
  email?: string;
  /** The verified token's claims; empty for API keys. */
  claims: JwtClaims;
}

/** Turns a request's credentials into a {@linkcode Caller}. */
export interface Authenticator {
  authenticate(request: Request): Promise<Caller>;
}

function roleOf(claims: JwtClaims): CallerRole {
  if (claims.role === "service_role") return "service_role";
  if (claims.role === "anon") return "anon";
  const appRole = claims.app_metadata?.role;
  if (appRole === "admin" || appRole === "manager") return appRole;
  return "authenticated";
}

/** Compares secrets without leaking how much of them matched through timing. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
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

let cached: Authenticator | undefined;

/** The process's authenticator, from `Deno.env`, built once (a bad variable throws each time). */
export function defaultAuthenticator(): Authenticator {
  cached ??= createAuthenticator(authSettingsFromEnv(Deno.env.toObject()));
  return cached;
}

/**
 * Reads and verifies the caller's credentials.
 *
 * @throws 401 AppError (`unauthorized`, `invalid_token`, `token_expired`) when refused; 500
 * `misconfigured` when the function has no way to verify anyone.
 */
export async function authenticate(
  request: Request,
  authenticator?: Authenticator,
): Promise<Caller> {
  try {
    return await (authenticator ?? defaultAuthenticator()).authenticate(request);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw ERRORS.Internal("Authentication failed unexpectedly");
  }
}

/** Throws 403 unless the caller has one of `allowed` (service_role is always allowed). */
export function requireRole(caller: Caller, allowed: readonly CallerRole[], action: string): void {
  if (caller.role === "service_role" || allowed.includes(caller.role)) return;
  const needed = allowed.join(" or ");
  throw ERRORS.Forbidden(`Only ${needed} users may ${action}; you are signed in as ${caller.role}`);
}
