/**
 * The signed-in user, kept by supabase-js across reloads (localStorage), and their role from
 * `app_metadata.role` — the same claim the functions check.
 *
 * @module
 */
import type { Session } from "@supabase/supabase-js";
import { useEffect, useState } from "preact/hooks";
import type { Api } from "./api.ts";
import { roleOf as callerRoleOf, ROLES } from "../../supabase/functions/_shared/auth/roles.ts";

/** What the app may offer: `admin` everything, `manager` uploads and adds, `none` nothing. */
export type Role = "admin" | "manager" | "none";

/**
 * Whether `role` belongs to one of the functions' role sets (`ROLES` in
 * `supabase/functions/_shared/auth/roles.ts`, bundled): the UI offers exactly what the
 * functions allow, decided by the same table.
 */
export function may(role: Role, set: keyof typeof ROLES): boolean {
  return role !== "none" && (ROLES[set] as readonly string[]).includes(role);
}

/** The session as the screens see it. */
export type SessionState =
  | { status: "loading" }
  | { status: "signedOut" }
  | { status: "signedIn"; session: Session; email: string; role: Role };

/** The role a session's user has, decided as the functions decide it (`app_metadata.role`). */
export function roleOf(session: Session): Role {
  const role = callerRoleOf({ role: "authenticated", app_metadata: session.user?.app_metadata });
  return role === "admin" || role === "manager" ? role : "none";
}

function stateOf(session: Session | null): SessionState {
  if (!session) return { status: "signedOut" };
  return {
    status: "signedIn",
    session,
    email: session.user?.email ?? "(no e-mail)",
    role: roleOf(session),
  };
}

/** Follows the supabase-js session: the stored one at start, then every sign-in/out/refresh. */
export function useSession(api: Api): SessionState {
  const [state, setState] = useState<SessionState>({ status: "loading" });
  useEffect(() => {
    let live = true;
    api.supabase.auth.getSession().then(({ data }) => live && setState(stateOf(data.session)));
    const { data } = api.supabase.auth.onAuthStateChange((_event, session) => {
      if (live) setState(stateOf(session));
    });
    return () => {
      live = false;
      data.subscription.unsubscribe();
    };
  }, [api]);
  return state;
}
