/**
 * What only the project's Auth API (GoTrue) can answer, asked the way auth-js asks it:
 *
 * - **Who holds this token?** `GET /auth/v1/user` with the token as the bearer — auth-js
 *   `getClaims` does this when it cannot verify a token locally (a key it does not have, an
 *   HS256 token without the secret). Only a `200` lets a caller in; the role comes from the
 *   returned user. Verdicts are kept by the token's SHA-256 for at most {@linkcode VERDICT_TTL_MS}
 *   and never past the token's `exp`, so a burst of requests costs one round trip.
 * - **Does the project still accept this legacy API key?** The platform keeps injecting
 *   `SUPABASE_ANON_KEY`/`SUPABASE_SERVICE_ROLE_KEY` after an owner disables the legacy keys
 *   (supabase/supabase#37648), so holding one proves nothing by itself. Supabase's gateway
 *   answers a disabled legacy key with `401` ("Legacy API keys are disabled") on every API,
 *   Auth's `GET /auth/v1/settings` included; a `200` there means the key still works.
 *
 * An Auth API that cannot be reached, or answers 5xx, is `503 auth_unavailable`: never a 401 (the
 * caller did nothing wrong) and never a pass.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { ERRORS } from "../errors.ts";

/** How long a verdict of the Auth API is kept. */
export const VERDICT_TTL_MS = 60_000;

/** Most verdicts kept at once; the oldest go first. */
const MAX_VERDICTS = 1000;

/** How long one call to the Auth API may take before it counts as unreachable. */
const AUTH_TIMEOUT_MS = 5000;

/** The user `GET /auth/v1/user` returns, as far as we read it. */
export interface AuthUser {
  id: string;
  role?: string;
  email?: string;
  app_metadata?: { role?: unknown; [key: string]: unknown };
}

/** Options for {@linkcode createAuthApi}. */
export interface AuthApiOptions {
  /** `https://<ref>.supabase.co` */
  supabaseUrl: string;
  /** A key the gateway accepts on `apikey` (the publishable key, else the legacy anon key). */
  apiKey?: string;
  /** For tests. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Milliseconds since the epoch, for tests. Default: `Date.now`. */
  now?: () => number;
}

/** The questions {@linkcode createAuthApi} answers. */
export interface AuthApi {
  /** The user holding `token`, or `null` when Auth refuses it. @throws 503 `auth_unavailable` */
  userOf(token: string, expiresAt?: number): Promise<AuthUser | null>;
  /** Whether the project still accepts the legacy API key `key`. @throws 503 `auth_unavailable` */
  acceptsLegacyKey(key: string): Promise<boolean>;
}

/** A small cache of verdicts that expire. */
class VerdictCache<T> {
  #entries = new Map<string, { value: T; until: number }>();

  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until > now) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, value: T, until: number): void {
    if (this.#entries.size >= MAX_VERDICTS) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, { value, until });
  }
}

const digest = (text: string) => createHash("sha256").update(text).digest("hex");

/** The Auth API of the project at `supabaseUrl`. */
export function createAuthApi(options: AuthApiOptions): AuthApi {
  const base = `${options.supabaseUrl.replace(/\/+$/, "")}/auth/v1`;
  const send = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const users = new VerdictCache<AuthUser | null>();
  const legacyKeys = new VerdictCache<boolean>();

  async function call(path: string, headers: Record<string, string>): Promise<Response> {
    let response: Response;
    try {
      response = await send(`${base}${path}`, {
        headers,
        signal: AbortSignal.timeout(AUTH_TIMEOUT_MS),
      });
    } catch {
      throw ERRORS.AuthUnavailable("The project's Auth service cannot be reached; try again");
    }
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel();
      throw ERRORS.AuthUnavailable(
        `The project's Auth service answered ${response.status}; try again`,
      );
    }
    return response;
  }

  return {
    async userOf(token, expiresAt) {
      const key = digest(token);
      const cached = users.get(key, now());
      if (cached !== undefined) return cached;
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (options.apiKey) headers.apikey = options.apiKey;
      const response = await call("/user", headers);
      const user = response.status === 200 ? await response.json() as AuthUser : null;
      if (response.status !== 200) await response.body?.cancel();
      const until = Math.min(
        now() + VERDICT_TTL_MS,
        expiresAt === undefined ? Infinity : expiresAt * 1000,
      );
      if (until > now()) users.set(key, user?.id ? user : null, until);
      return user?.id ? user : null;
    },

    async acceptsLegacyKey(legacyKey) {
      const key = digest(legacyKey);
      const cached = legacyKeys.get(key, now());
      if (cached !== undefined) return cached;
      const response = await call("/settings", { apikey: legacyKey });
      await response.body?.cancel();
      const accepted = response.status === 200;
      legacyKeys.set(key, accepted, now() + VERDICT_TTL_MS);
      return accepted;
    },
  };
}
