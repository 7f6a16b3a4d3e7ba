/**
 * The auth half of the configuration, read from the names hosted Supabase injects (and one
 * operator secret), apart from the storage/database settings so that `/health` can still say
 * who is calling when those are broken.
 *
 * | variable                    | format                                   | set by              |
 * | --------------------------- | ---------------------------------------- | ------------------- |
 * | `SUPABASE_URL`              | `https://<ref>.supabase.co`              | platform            |
 * | `SUPABASE_JWKS`             | `{"keys":[…]}` (or a bare array)         | platform            |
 * | `SUPABASE_PUBLISHABLE_KEYS` | `{"default":"sb_publishable_…", …}`      | platform            |
 * | `SUPABASE_SECRET_KEYS`      | `{"default":"sb_secret_…", …}`           | platform            |
 * | `SUPABASE_ANON_KEY`         | legacy anon JWT                          | platform (legacy)   |
 * | `SUPABASE_SERVICE_ROLE_KEY` | legacy service_role JWT                  | platform (legacy)   |
 * | `LEGACY_JWT_SECRET`         | the project's legacy HS256 secret        | operator (optional) |
 * | `LEGACY_API_KEYS`           | `auto` (default) or `disabled`           | operator (optional) |
 * | `AUTH_JWT_ISSUER`           | user tokens' `iss`, if not the default   | operator (optional) |
 *
 * @module
 */
import type { JSONWebKeySet } from "jose";
import { ERRORS } from "../errors.ts";

/** What {@linkcode authSettingsFromEnv} found. */
export interface AuthSettings {
  supabaseUrl?: string;
  jwks?: JSONWebKeySet;
  legacyJwtSecret?: string;
  /** Values of `SUPABASE_PUBLISHABLE_KEYS`. */
  publishableKeys: string[];
  /** Values of `SUPABASE_SECRET_KEYS`. */
  secretKeys: string[];
  /** Legacy JWT API keys, recognised by exact value (and only while the project accepts them). */
  anonKey?: string;
  serviceRoleKey?: string;
  /**
   * `auto`: a legacy API key counts only while the project's Auth API still accepts it;
   * `disabled`: refused without asking (the operator turned them off).
   */
  legacyApiKeys: "auto" | "disabled";
  /** The `iss` user tokens must carry: `AUTH_JWT_ISSUER`, else `<SUPABASE_URL>/auth/v1`. */
  issuer?: string;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/**
 * Reads a `SUPABASE_*_KEYS` dictionary (`{"default":"sb_…"}`). A single bare `sb_…` key is
 * accepted too (self-hosted setups export one key).
 */
export function parseKeyDictionary(name: string, raw: string | undefined): string[] {
  const text = nonEmpty(raw);
  if (!text) return [];
  if (text.startsWith("sb_")) return [text];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw ERRORS.Misconfigured(`${name} is invalid: expected a JSON object of named keys`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw ERRORS.Misconfigured(`${name} is invalid: expected a JSON object of named keys`);
  }
  const keys = Object.values(parsed).filter((v): v is string => typeof v === "string" && !!v);
  if (keys.length !== Object.keys(parsed).length) {
    throw ERRORS.Misconfigured(`${name} is invalid: every key must be a non-empty string`);
  }
  return keys;
}

/** Reads `SUPABASE_JWKS`: `{"keys":[…]}` or a bare array of JWKs. */
export function parseJwks(raw: string | undefined): JSONWebKeySet | undefined {
  const text = nonEmpty(raw);
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw ERRORS.Misconfigured("SUPABASE_JWKS is invalid: expected a JSON Web Key Set");
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.some((k) => k === null || typeof k !== "object")) {
    throw ERRORS.Misconfigured("SUPABASE_JWKS is invalid: expected a JSON Web Key Set");
  }
  return { keys } as JSONWebKeySet;
}

/**
 * The auth settings of an environment map.
 *
 * @throws 500 `misconfigured` AppError naming the variable when one is malformed.
 */
export function authSettingsFromEnv(env: Record<string, string | undefined>): AuthSettings {
  const legacyJwtSecret = nonEmpty(env.LEGACY_JWT_SECRET);
  if (legacyJwtSecret && legacyJwtSecret.length < 32) {
    throw ERRORS.Misconfigured("LEGACY_JWT_SECRET is invalid: it must be at least 32 characters");
  }
  const legacyApiKeys = nonEmpty(env.LEGACY_API_KEYS) ?? "auto";
  if (legacyApiKeys !== "auto" && legacyApiKeys !== "disabled") {
    throw ERRORS.Misconfigured("LEGACY_API_KEYS is invalid: expected auto or disabled");
  }
  const supabaseUrl = nonEmpty(env.SUPABASE_URL)?.replace(/\/+$/, "");
  return {
    supabaseUrl,
    legacyApiKeys,
    issuer: nonEmpty(env.AUTH_JWT_ISSUER) ?? (supabaseUrl ? `${supabaseUrl}/auth/v1` : undefined),
    jwks: parseJwks(env.SUPABASE_JWKS),
    legacyJwtSecret,
    publishableKeys: parseKeyDictionary("SUPABASE_PUBLISHABLE_KEYS", env.SUPABASE_PUBLISHABLE_KEYS),
    secretKeys: parseKeyDictionary("SUPABASE_SECRET_KEYS", env.SUPABASE_SECRET_KEYS),
    anonKey: nonEmpty(env.SUPABASE_ANON_KEY),
    serviceRoleKey: nonEmpty(env.SUPABASE_SERVICE_ROLE_KEY),
  };
}

/**
 * The key a function uses to call itself (the rebuild's continuation): the first secret key,
 * else the legacy service_role JWT; undefined when neither is injected.
 */
export function selfCallKey(settings: AuthSettings): string | undefined {
  return settings.secretKeys[0] ?? settings.serviceRoleKey;
}

/** The headers a service-to-service call carries: the key on `apikey` and as the bearer. */
export function serviceKeyHeaders(key: string): Record<string, string> {
  return { apikey: key, authorization: `Bearer ${key}` };
}
