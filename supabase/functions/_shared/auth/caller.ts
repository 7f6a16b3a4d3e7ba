/**
 * Who is calling. Roles come from the verified JWT: Supabase's API role (`anon`,
 * `authenticated`, `service_role`) in `role`, and ours (`manager`, `admin`) in
 * `app_metadata.role`, which users cannot edit themselves.
 *
 * @module
 */
import { ERRORS } from "../http/errors.ts";
import { bearerToken, decodeJwtUnverified, type JwtClaims, JwtError, verifyJwt } from "./jwt.ts";

/** What a caller may do, from least to most. */
export type CallerRole = "anon" | "authenticated" | "manager" | "admin" | "service_role";

/** The authenticated caller. */
export interface Caller {
  role: CallerRole;
  /** `sub` (user id), or the API role for keys without a user. */
  id: string;
  email?: string;
  claims: JwtClaims;
}

function roleOf(claims: JwtClaims): CallerRole {
  if (claims.role === "service_role") return "service_role";
  if (claims.role === "anon") return "anon";
  const appRole = claims.app_metadata?.role;
  if (appRole === "admin" || appRole === "manager") return appRole;
  return "authenticated";
}

/**
 * Reads and checks the caller's token. With `jwtSecret` the signature and expiry are verified
 * here too; without it the gateway's `verify_jwt` (on for both functions) has already done so.
 *
 * @throws 401 AppError for a missing, malformed, forged or expired token.
 */
export async function authenticate(request: Request, jwtSecret?: string): Promise<Caller> {
  const token = bearerToken(request);
  if (!token) throw ERRORS.Unauthorized("Sign in first: the request has no bearer token");
  let claims: JwtClaims;
  try {
    claims = jwtSecret ? await verifyJwt(token, jwtSecret) : decodeJwtUnverified(token);
  } catch (error) {
    if (error instanceof JwtError && error.reason === "expired") {
      throw ERRORS.TokenExpired("Your session has expired; sign in again");
    }
    throw ERRORS.InvalidToken("The bearer token is not valid");
  }
  const role = roleOf(claims);
  return { role, id: claims.sub ?? role, email: claims.email, claims };
}

/** Throws 403 unless the caller has one of `allowed` (service_role is always allowed). */
export function requireRole(caller: Caller, allowed: readonly CallerRole[], action: string): void {
  if (caller.role === "service_role" || allowed.includes(caller.role)) return;
  const needed = allowed.join(" or ");
  throw ERRORS.Forbidden(`Only ${needed} users may ${action}; you are signed in as ${caller.role}`);
}
