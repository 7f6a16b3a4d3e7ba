/**
 * A small stand-in for Supabase Auth (GoTrue) on the local API port, enough for supabase-js to
 * behave exactly as against a real project:
 *
 * | route                                      | as GoTrue                                              |
 * | ------------------------------------------ | ------------------------------------------------------ |
 * | `GET  /auth/v1/.well-known/jwks.json`      | the project's public signing keys (no API key needed)  |
 * | `POST /auth/v1/token?grant_type=password`  | `{email, password}` → session                          |
 * | `POST /auth/v1/token?grant_type=refresh_token` | `{refresh_token}` → new session, token rotated     |
 * | `GET  /auth/v1/user`                       | the signed-in user (the session must still exist)      |
 * | `POST /auth/v1/logout?scope=global|local|others` | 204; revokes sessions                            |
 * | `GET  /auth/v1/settings`                   | 200 while the `apikey` is accepted (the legacy-key probe) |
 *
 * Either kind of hosted project (`signing`):
 * - `keys` (default, new projects): access tokens ES256 with the project's `kid`; the JWKS
 *   serves the public key(s). `POST /auth/v1/__stack/rotate-signing-key` (secret key only, local
 *   stack only) makes a new key current, as a rotation in the dashboard does.
 * - `legacy` (projects still on the legacy JWT secret): access tokens HS256 signed with that
 *   secret, carrying a `kid` as hosted's do; the JWKS endpoint serves no keys (the secret is
 *   never published), and functions get the secret as an `oct` key in `SUPABASE_JWKS`.
 *
 * `legacyApiKeys: "disabled"` answers the legacy anon/service_role keys as a project whose owner
 * disabled them: `401 {"message":"Legacy API keys are disabled"}` on every route.
 * `POST /auth/v1/__stack/legacy-api-keys` `{disabled: boolean}` switches that at run time.
 * `POST /auth/v1/__stack/outage` `{down: boolean}` (secret key only) makes every other route
 * answer 503, so tests can see what the functions do while Auth is unreachable.
 *
 * Sessions are `{access_token, token_type, expires_in, expires_at, refresh_token, user}`; access
 * tokens carry GoTrue's claims (`aud`, `role`, `app_metadata`,
 * `session_id`, `aal`, `amr`…). Every route but the JWKS wants an `apikey` (publishable, secret or
 * a legacy key), as Supabase's API gateway does. Errors follow GoTrue: with the
 * `X-Supabase-Api-Version: 2024-01-01` header supabase-js sends, `{code, message}`; without it,
 * `{code: <status>, error_code, msg}`. Sessions are kept in the state folder, so a session a
 * browser kept survives a restart of the stack and can still be refreshed.
 *
 * The users are fixed ({@linkcode LOCAL_USERS}); passwords come from the key file.
 *
 * @module
 */
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";
import {
  LOCAL_USERS,
  type LocalUserName,
  publicJwk,
  signWithProjectKey,
  type StackKeys,
} from "./keys.ts";

/** Which kind of hosted project the mirror plays. */
export type AuthSigning = "keys" | "legacy";

/** Options for {@linkcode createAuthServer}. */
export interface AuthServerOptions {
  keys: StackKeys;
  /** The API URL (`http://127.0.0.1:54321`); tokens' `iss` is `<apiUrl>/auth/v1`. */
  apiUrl: string;
  /** Where sessions persist (`auth-sessions.json`); in memory only when absent. */
  stateDir?: string;
  /** Access token lifetime. Default 3600 s, Supabase's default. */
  accessTokenSeconds?: number;
  /** Signing keys (default) or the legacy JWT secret. */
  signing?: AuthSigning;
  /** `disabled`: the legacy anon/service_role keys are refused, as after an owner disabled them. */
  legacyApiKeys?: "enabled" | "disabled";
}

/** The `kid` a legacy-secret project's access tokens carry, stable for one secret. */
export async function legacyKid(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  return [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** What functions get as `SUPABASE_JWKS` for each kind of project (the CLI's shapes). */
export function injectedJwks(keys: StackKeys, signing: AuthSigning): { keys: JWK[] } {
  if (signing === "keys") return keys.jwks;
  const k = btoa(keys.legacyJwtSecret).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return { keys: [{ kty: "oct", k }] };
}

/** The auth routes, mounted by the functions host under `/auth/v1/`. */
export interface AuthServer {
  /** Answers any request whose path starts with `/auth/v1/`. */
  handle(request: Request): Promise<Response>;
  /**
   * A long-lived (ten years) access token for `npm run status` (`ADMIN_TOKEN`…), on a session
   * of its own so `/auth/v1/user` accepts it too.
   */
  issueLongLivedToken(user: LocalUserName): Promise<string>;
}

interface Session {
  id: string;
  user: LocalUserName;
  refreshToken: string;
  /** The token this one replaced, honoured for a few seconds (two tabs refreshing at once). */
  previousRefreshToken?: string;
  rotatedAt: number;
  signedInAt: number;
}

/** As GoTrue's refresh token reuse interval: a just-rotated token still works this long. */
const REUSE_INTERVAL_SECONDS = 10;
const TEN_YEARS = 10 * 365 * 24 * 3600;
const CREATED_AT = "2026-01-01T00:00:00Z";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
  "access-control-allow-headers":
    "authorization, apikey, content-type, x-client-info, x-supabase-api-version",
  "access-control-expose-headers": "x-supabase-api-version",
  "access-control-max-age": "86400",
};

const now = () => Math.floor(Date.now() / 1000);
const randomToken = () => crypto.randomUUID().replaceAll("-", "").slice(0, 24);

function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { ...CORS, ...headers } });
}

/** A GoTrue-shaped error: the 2024-01-01 API shape when the client asked for it. */
function authError(request: Request, status: number, code: string, message: string): Response {
  if (request.headers.get("x-supabase-api-version")) {
    return json({ code, message }, status, { "x-supabase-api-version": "2024-01-01" });
  }
  return json({ code: status, error_code: code, msg: message }, status);
}

function userObject(name: LocalUserName, signedInAt: number) {
  const user = LOCAL_USERS[name];
  return {
    id: user.id,
    aud: "authenticated",
    role: "authenticated",
    email: user.email,
    email_confirmed_at: CREATED_AT,
    phone: "",
    confirmed_at: CREATED_AT,
    last_sign_in_at: new Date(signedInAt * 1000).toISOString(),
    app_metadata: appMetadata(name),
    user_metadata: { email: user.email, email_verified: true, phone_verified: false, sub: user.id },
    identities: [],
    created_at: CREATED_AT,
    updated_at: CREATED_AT,
    is_anonymous: false,
  };
}

function appMetadata(name: LocalUserName): Record<string, unknown> {
  const role = LOCAL_USERS[name].role;
  return { provider: "email", providers: ["email"], ...(role ? { role } : {}) };
}

/** Creates the auth routes over the project's keys; loads kept sessions from `stateDir`. */
export async function createAuthServer(options: AuthServerOptions): Promise<AuthServer> {
  const { keys } = options;
  const issuer = `${options.apiUrl.replace(/\/+$/, "")}/auth/v1`;
  const lifetime = options.accessTokenSeconds ?? 3600;
  const sessionsPath = options.stateDir ? `${options.stateDir}/auth-sessions.json` : undefined;
  const sessions = new Map<string, Session>();
  const signing = options.signing ?? "keys";
  const legacySecret = new TextEncoder().encode(keys.legacyJwtSecret);
  const legacyTokenKid = await legacyKid(keys.legacyJwtSecret);
  // Signing keys, newest last: a rotation adds one and makes it current.
  const signingKeys: JWK[] = [keys.signingKey];
  const published = () =>
    signing === "keys" ? { keys: signingKeys.map(publicJwk) } : { keys: [] as JWK[] };
  let verifySet = createLocalJWKSet(published());
  let outage = false;
  let legacyKeysDisabled = options.legacyApiKeys === "disabled";
  const legacyKeys = [keys.anonKey, keys.serviceRoleKey];
  const apiKeys = () =>
    legacyKeysDisabled
      ? [keys.publishableKey, keys.secretKey]
      : [keys.publishableKey, keys.secretKey, ...legacyKeys];

  if (sessionsPath) {
    try {
      for (const session of JSON.parse(await Deno.readTextFile(sessionsPath)) as Session[]) {
        if (session.user in LOCAL_USERS) sessions.set(session.id, session);
      }
    } catch { /* none kept yet */ }
  }
  async function persist(): Promise<void> {
    if (!sessionsPath) return;
    const text = JSON.stringify([...sessions.values()]);
    await Deno.writeTextFile(sessionsPath, text, { mode: 0o600 });
  }

  async function accessToken(session: Session, expiresIn: number): Promise<string> {
    const user = LOCAL_USERS[session.user];
    const iat = now();
    const claims = {
      iss: issuer,
      sub: user.id,
      aud: "authenticated",
      exp: iat + expiresIn,
      iat,
      email: user.email,
      phone: "",
      app_metadata: appMetadata(session.user),
      user_metadata: { email: user.email, email_verified: true, phone_verified: false },
      role: "authenticated",
      aal: "aal1",
      amr: [{ method: "password", timestamp: session.signedInAt }],
      session_id: session.id,
      is_anonymous: false,
    };
    if (signing === "keys") return await signWithProjectKey(signingKeys.at(-1)!, claims);
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", kid: legacyTokenKid, typ: "JWT" })
      .sign(legacySecret);
  }

  async function sessionResponse(session: Session): Promise<Response> {
    const token = await accessToken(session, lifetime);
    return json({
      access_token: token,
      token_type: "bearer",
      expires_in: lifetime,
      expires_at: now() + lifetime,
      refresh_token: session.refreshToken,
      user: userObject(session.user, session.signedInAt),
    });
  }

  async function readJson(request: Request): Promise<Record<string, unknown> | undefined> {
    try {
      const body = await request.json();
      return body && typeof body === "object" && !Array.isArray(body) ? body : undefined;
    } catch {
      return undefined;
    }
  }

  async function passwordGrant(request: Request): Promise<Response> {
    const body = await readJson(request);
    if (!body) return authError(request, 400, "bad_json", "Could not parse request body as JSON");
    const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
    const password = typeof body.password === "string" ? body.password : "";
    if (!email || !password) {
      return authError(request, 400, "validation_failed", "Missing email or password");
    }
    const name = (Object.keys(LOCAL_USERS) as LocalUserName[])
      .find((n) => LOCAL_USERS[n].email === email);
    // Compare even for an unknown user, so timing does not tell which emails exist.
    const ok = sameSecret(password, name ? keys.passwords[name] : keys.passwords.viewer) &&
      name !== undefined;
    if (!ok || !name) {
      return authError(request, 400, "invalid_credentials", "Invalid login credentials");
    }
    const session: Session = {
      id: crypto.randomUUID(),
      user: name,
      refreshToken: randomToken(),
      rotatedAt: now(),
      signedInAt: now(),
    };
    sessions.set(session.id, session);
    await persist();
    return await sessionResponse(session);
  }

  async function refreshGrant(request: Request): Promise<Response> {
    const body = await readJson(request);
    if (!body) return authError(request, 400, "bad_json", "Could not parse request body as JSON");
    const token = typeof body.refresh_token === "string" ? body.refresh_token : "";
    if (!token) {
      return authError(request, 400, "validation_failed", "refresh_token required");
    }
    for (const session of sessions.values()) {
      if (session.refreshToken === token) {
        session.previousRefreshToken = token;
        session.refreshToken = randomToken();
        session.rotatedAt = now();
        await persist();
        return await sessionResponse(session);
      }
      if (
        session.previousRefreshToken === token &&
        now() - session.rotatedAt <= REUSE_INTERVAL_SECONDS
      ) {
        return await sessionResponse(session);
      }
    }
    return authError(
      request,
      400,
      "refresh_token_not_found",
      "Invalid Refresh Token: Refresh Token Not Found",
    );
  }

  /** The session behind a request's bearer token, or the error GoTrue would answer. */
  async function currentSession(request: Request): Promise<Session | Response> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
    if (!match) {
      return authError(request, 401, "no_authorization", "This endpoint requires a Bearer token");
    }
    let sessionId: unknown;
    try {
      const verifyOptions = { issuer, requiredClaims: ["exp", "session_id"] };
      // GoTrue keeps the legacy secret as a verification key after a project moves to signing
      // keys, so HS256 tokens signed with it still verify here in either kind of project.
      const { alg } = decodeProtectedHeader(match[1]);
      const { payload } = alg === "HS256"
        ? await jwtVerify(match[1], legacySecret, { ...verifyOptions, algorithms: ["HS256"] })
        : await jwtVerify(match[1], verifySet, { ...verifyOptions, algorithms: ["ES256"] });
      sessionId = payload.session_id;
    } catch (error) {
      return authError(
        request,
        403,
        "bad_jwt",
        `invalid JWT: unable to parse or verify signature, ${(error as Error).message}`,
      );
    }
    const session = sessions.get(String(sessionId));
    if (!session) {
      return authError(
        request,
        403,
        "session_not_found",
        "Session from session_id claim in JWT does not exist",
      );
    }
    return session;
  }

  async function logout(request: Request, scope: string): Promise<Response> {
    const session = await currentSession(request);
    if (session instanceof Response) return session;
    if (!["global", "local", "others"].includes(scope)) {
      return authError(request, 400, "validation_failed", `Unsupported logout scope "${scope}"`);
    }
    for (const other of [...sessions.values()]) {
      const same = other.id === session.id;
      const revoke = scope === "local"
        ? same
        : scope === "others"
        ? other.user === session.user && !same
        : other.user === session.user;
      if (revoke) sessions.delete(other.id);
    }
    await persist();
    return new Response(null, { status: 204, headers: CORS });
  }

  function apiKeyProblem(request: Request): Response | undefined {
    const url = new URL(request.url);
    const key = request.headers.get("apikey") ?? url.searchParams.get("apikey");
    if (!key) {
      return json({
        message: "No API key found in request",
        hint: "No `apikey` request header or url param was found.",
      }, 401);
    }
    if (legacyKeysDisabled && legacyKeys.some((k) => sameSecret(key, k))) {
      return json({
        message: "Legacy API keys are disabled",
        hint: "Your legacy API keys (anon, service_role) were disabled on this project. " +
          "Use the publishable or secret keys instead.",
      }, 401);
    }
    if (!apiKeys().some((k) => sameSecret(key, k))) {
      return json({
        message: "Invalid API key",
        hint: "Double check your Supabase `anon` or `service_role` API key.",
      }, 401);
    }
    return undefined;
  }

  /** Local-stack controls for tests; the secret key only. Not a GoTrue route. */
  async function stackControl(request: Request, path: string): Promise<Response> {
    const key = request.headers.get("apikey") ?? "";
    if (!sameSecret(key, keys.secretKey) || request.method !== "POST") {
      return json({ message: "Not found" }, 404);
    }
    if (path === "/__stack/rotate-signing-key" && signing === "keys") {
      const { privateKey } = await generateKeyPair("ES256", { extractable: true });
      signingKeys.push({
        ...(await exportJWK(privateKey)),
        kid: crypto.randomUUID(),
        alg: "ES256",
        use: "sig",
      });
      verifySet = createLocalJWKSet(published());
      return json({ kid: signingKeys.at(-1)!.kid, jwks: published() });
    }
    if (path === "/__stack/legacy-api-keys") {
      const body = await readJson(request);
      legacyKeysDisabled = body?.disabled === true;
      return json({ disabled: legacyKeysDisabled });
    }
    if (path === "/__stack/outage") {
      const body = await readJson(request);
      outage = body?.down === true;
      return json({ down: outage });
    }
    return json({ message: "Not found" }, 404);
  }

  return {
    async handle(request) {
      const url = new URL(request.url);
      const path = url.pathname.replace(/^\/auth\/v1/, "").replace(/\/+$/, "") || "/";
      if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
      if (path.startsWith("/__stack/")) return await stackControl(request, path);
      if (outage) {
        return json({ message: "The local auth mirror is down (test outage)" }, 503);
      }
      if (path === "/.well-known/jwks.json" && request.method === "GET") {
        return json(published(), 200, { "cache-control": "public, max-age=600" });
      }
      const refused = apiKeyProblem(request);
      if (refused) return refused;
      if (path === "/settings" && request.method === "GET") {
        return json({
          external: { email: true },
          disable_signup: true,
          mailer_autoconfirm: true,
          jwt_signing: signing === "keys" ? "signing_keys" : "legacy_secret",
        });
      }
      if (path === "/token" && request.method === "POST") {
        const grant = url.searchParams.get("grant_type");
        if (grant === "password") return await passwordGrant(request);
        if (grant === "refresh_token") return await refreshGrant(request);
        return authError(request, 400, "validation_failed", `Unsupported grant_type "${grant}"`);
      }
      if (path === "/user" && request.method === "GET") {
        const session = await currentSession(request);
        if (session instanceof Response) return session;
        return json(userObject(session.user, session.signedInAt));
      }
      if (path === "/logout" && request.method === "POST") {
        return await logout(request, url.searchParams.get("scope") ?? "global");
      }
      if (path === "/health" && request.method === "GET") {
        return json({ name: "GoTrue", description: "s3-image-cache local auth mirror" });
      }
      return authError(request, 404, "not_found", `No auth route ${request.method} ${path}`);
    },

    async issueLongLivedToken(user) {
      // One fixed session per user, so restarts do not pile up sessions.
      const id = LOCAL_USERS[user].id.replace(/^0{8}/, "5e551011");
      const session: Session = sessions.get(id) ?? {
        id,
        user,
        refreshToken: randomToken(),
        rotatedAt: now(),
        signedInAt: now(),
      };
      sessions.set(id, session);
      await persist();
      return await accessToken(session, TEN_YEARS);
    },
  };
}
