/**
 * The local project's keys, shaped like a hosted project's (generated on first start and kept in
 * the git-ignored state folder, so no secret is ever committed):
 *
 * - an ES256 signing key with a `kid`: user access tokens are signed with it and its public half
 *   is the JWKS (`/auth/v1/.well-known/jwks.json`, and `SUPABASE_JWKS` for functions);
 * - `sb_publishable_…` / `sb_secret_…` API keys;
 * - the legacy HS256 JWT secret and the legacy anon/service_role JWTs signed with it, exactly as
 *   hosted signs them. Hosted never gives functions that secret, and neither do we: functions
 *   recognise the legacy keys by their injected value, as on hosted, so their code path is the
 *   same here and there (signing the legacy keys ES256 would let a local-only path pass).
 * - passwords of the local users (`admin@`, `manager@`, `viewer@example.test`).
 *
 * @module
 */
import {
  base64url,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  SignJWT,
} from "jose";

/** The local users: fixed ids so a restarted stack keeps the same identities. */
export const LOCAL_USERS = {
  admin: { id: "00000000-0000-4000-8000-00000000000b", email: "admin@example.test", role: "admin" },
  manager: {
    id: "00000000-0000-4000-8000-00000000000a",
    email: "manager@example.test",
    role: "manager",
  },
  /** Signed in, but with no role in `app_metadata`: what a plain user sees. */
  viewer: { id: "00000000-0000-4000-8000-00000000000c", email: "viewer@example.test", role: null },
} as const;

/** A local user's name in {@linkcode LOCAL_USERS}. */
export type LocalUserName = keyof typeof LOCAL_USERS;

/** What `${stateDir}/auth-keys.json` holds. */
export interface AuthKeyFile {
  /** Private ES256 JWK with `kid`, `alg` and `use`. */
  signingKey: JWK;
  publishableKey: string;
  secretKey: string;
  passwords: Record<LocalUserName, string>;
}

/** Everything the stack and its clients need. */
export interface StackKeys extends AuthKeyFile {
  /** The public JWKS (what hosted serves and injects as `SUPABASE_JWKS`). */
  jwks: JSONWebKeySet;
  /** Legacy HS256 secret (`JWT_SECRET` of `npm run status`). */
  legacyJwtSecret: string;
  /** Legacy API keys: HS256 JWTs signed with the legacy secret. */
  anonKey: string;
  serviceRoleKey: string;
}

const TEN_YEARS = 10 * 365 * 24 * 3600;

function randomText(bytes: number): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(bytes)));
}

/**
 * A new API key in the shape of Supabase's (`sb_publishable_` or `sb_secret_`, 22 random
 * characters, `_`, an 8-character checksum of them). Only the shape is Supabase's: the checksum
 * here is a truncated SHA-256, which nothing checks.
 */
export async function newApiKey(kind: "publishable" | "secret"): Promise<string> {
  const random = randomText(16).slice(0, 22);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(random)),
  );
  return `sb_${kind}_${random}_${base64url.encode(digest).slice(0, 8)}`;
}

async function newKeyFile(): Promise<AuthKeyFile> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const signingKey = {
    ...(await exportJWK(privateKey)),
    kid: crypto.randomUUID(),
    alg: "ES256",
    use: "sig",
  };
  return {
    signingKey,
    publishableKey: await newApiKey("publishable"),
    secretKey: await newApiKey("secret"),
    passwords: { admin: randomText(12), manager: randomText(12), viewer: randomText(12) },
  };
}

function isKeyFile(value: unknown): value is AuthKeyFile {
  const file = value as AuthKeyFile;
  return Boolean(
    file?.signingKey?.d && file.signingKey.kid && file.publishableKey?.startsWith("sb_") &&
      file.secretKey?.startsWith("sb_") && file.passwords?.admin && file.passwords.manager &&
      file.passwords.viewer,
  );
}

/** Reads the legacy secret from `path`, or creates a random one there. `JWT_SECRET` wins. */
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

/**
 * Reads the live-sync secret (`EVENTS_SECRET`: what a bucket's event sender presents to
 * `POST /s3-image-service/events`) from `path`, or creates a random one there (mode 0600).
 */
export async function loadOrCreateEventsSecret(path: string): Promise<string> {
  try {
    const existing = (await Deno.readTextFile(path)).trim();
    if (existing.length >= 32) return existing;
  } catch { /* first run */ }
  const secret = randomText(32);
  await Deno.writeTextFile(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** Reads `${stateDir}/auth-keys.json`, or creates it (mode 0600) on first start. */
export async function loadOrCreateAuthKeyFile(stateDir: string): Promise<AuthKeyFile> {
  const path = `${stateDir}/auth-keys.json`;
  try {
    const existing = JSON.parse(await Deno.readTextFile(path));
    if (isKeyFile(existing)) return existing;
  } catch { /* first run */ }
  const created = await newKeyFile();
  await Deno.writeTextFile(path, JSON.stringify(created, null, 2) + "\n", { mode: 0o600 });
  return created;
}

/** The public half of a private JWK, as a JWKS publishes it. */
export function publicJwk(privateJwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = privateJwk;
  return { ...rest, key_ops: ["verify"] };
}

/** Signs the legacy API keys with the legacy secret, as hosted does (HS256, ten years). */
export async function signLegacyKey(
  role: "anon" | "service_role",
  legacySecret: string,
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return await new SignJWT({ iss: "supabase-demo", role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(iat)
    .setExpirationTime(iat + TEN_YEARS)
    .sign(new TextEncoder().encode(legacySecret));
}

/** Loads (or creates) every key of the local project under `stateDir`. */
export async function loadStackKeys(stateDir: string): Promise<StackKeys> {
  const legacyJwtSecret = await loadOrCreateJwtSecret(`${stateDir}/jwt-secret`);
  const file = await loadOrCreateAuthKeyFile(stateDir);
  return {
    ...file,
    jwks: { keys: [publicJwk(file.signingKey)] },
    legacyJwtSecret,
    anonKey: await signLegacyKey("anon", legacyJwtSecret),
    serviceRoleKey: await signLegacyKey("service_role", legacyJwtSecret),
  };
}

/**
 * Signs `claims` with the project's ES256 key (header `alg`, `kid`, `typ`), as Supabase Auth
 * signs access tokens. Tests use it to mint expired or role-less tokens.
 */
export async function signWithProjectKey(
  signingKey: JWK,
  claims: Record<string, unknown>,
): Promise<string> {
  const key = await importJWK(signingKey, "ES256");
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: signingKey.kid, typ: "JWT" })
    .sign(key);
}
