/**
 * The local project's JWT secret and the keys `npm start` prints: anon and service_role API keys
 * and ready-made tokens for a `manager` and an `admin` user. The secret is generated on first
 * use and kept in the git-ignored state folder, so no secret is ever committed.
 *
 * @module
 */
import { signJwt } from "../../supabase/functions/_shared/auth/jwt.ts";

/** Everything a client needs to call the local stack. */
export interface StackKeys {
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
  managerToken: string;
  adminToken: string;
}

/** Fixed user ids so a restarted stack keeps the same identities. */
export const LOCAL_USERS = {
  manager: { id: "00000000-0000-4000-8000-00000000000a", email: "manager@example.test" },
  admin: { id: "00000000-0000-4000-8000-00000000000b", email: "admin@example.test" },
} as const;

const TEN_YEARS = 10 * 365 * 24 * 3600;

/** Reads the secret from `path`, or creates a random one there. `JWT_SECRET` in the env wins. */
export async function loadOrCreateJwtSecret(path: string): Promise<string> {
  const fromEnv = Deno.env.get("JWT_SECRET");
  if (fromEnv) return fromEnv;
  try {
    const existing = (await Deno.readTextFile(path)).trim();
    if (existing.length >= 32) return existing;
  } catch { /* first run */ }
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  await Deno.writeTextFile(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** Signs the API keys and user tokens with `jwtSecret`. */
export async function mintKeys(jwtSecret: string): Promise<StackKeys> {
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + TEN_YEARS;
  const user = (kind: keyof typeof LOCAL_USERS) =>
    signJwt({
      iss: "s3-image-cache-local",
      role: "authenticated",
      aud: "authenticated",
      sub: LOCAL_USERS[kind].id,
      email: LOCAL_USERS[kind].email,
      app_metadata: { role: kind },
      iat,
      exp,
    }, jwtSecret);
  return {
    jwtSecret,
    anonKey: await signJwt({ iss: "s3-image-cache-local", role: "anon", iat, exp }, jwtSecret),
    serviceRoleKey: await signJwt(
      { iss: "s3-image-cache-local", role: "service_role", iat, exp },
      jwtSecret,
    ),
    managerToken: await user("manager"),
    adminToken: await user("admin"),
  };
}
