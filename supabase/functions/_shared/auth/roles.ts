/**
 * The one place that decides what a caller may do. A route, or an option of a route that needs
 * more than the route itself, declares the roles it needs from {@linkcode ROLES};
 * {@linkcode requireRole} is the one check. `service_role` is listed wherever it is meant, never
 * implied. SQL policies decide the same way through `s3_image_cache_private.has_app_role(...)`.
 *
 * @module
 */
import { ERRORS } from "../errors.ts";
import type { JwtClaims } from "./jwt.ts";

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

/** The role sets routes declare. */
export const ROLES = {
  /** Store managers and admins: upload, add, read the index and job status. */
  staff: ["manager", "admin", "service_role"],
  /** Admins: also rebuild, reconcile, remove, force-add. */
  admins: ["admin", "service_role"],
  /** The project's secret key only: self-continuation, the scheduler, budgets. */
  service: ["service_role"],
} as const satisfies Record<string, readonly CallerRole[]>;

/**
 * The role of verified claims: Supabase's API role (`role`: anon, authenticated, service_role),
 * refined by ours in `app_metadata.role`, which only the service role can write. A role in
 * `user_metadata` (which users edit themselves) counts for nothing.
 */
export function roleOf(claims: JwtClaims): CallerRole {
  if (claims.role === "service_role") return "service_role";
  if (claims.role === "anon") return "anon";
  const appRole = claims.app_metadata?.role;
  if (appRole === "admin" || appRole === "manager") return appRole;
  return "authenticated";
}

/**
 * Throws 403 unless the caller has one of `allowed`.
 *
 * @param action What the caller tried, for the message: "Only admin users may <action>".
 */
export function requireRole(caller: Caller, allowed: readonly CallerRole[], action: string): void {
  if (allowed.includes(caller.role)) return;
  const users = allowed.filter((role) => role !== "service_role");
  throw ERRORS.Forbidden(
    users.length
      ? `Only ${users.join(" or ")} users may ${action}; you are signed in as ${caller.role}`
      : `Only service_role may ${action}`,
  );
}
