/**
 * Verifies Supabase JSON Web Tokens with `jose`, the way a hosted project needs it:
 *
 * - user tokens of projects with JWT signing keys (ES256/RS256/EdDSA) against the project's JWKS,
 *   injected as `SUPABASE_JWKS` or fetched from `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`;
 * - user tokens of projects still on the legacy JWT secret (HS256) against that secret, which
 *   hosted injects as an `oct` key of `SUPABASE_JWKS` (never as `SUPABASE_JWT_SECRET`), or an
 *   operator's `LEGACY_JWT_SECRET`;
 * - what fits none of those keys is `unverifiable`: `authenticate.ts` then asks the Auth API.
 *
 * The token's `alg` only picks which of those two keys is tried, and each path allows only its
 * own algorithms, so `alg: none` and algorithm confusion (an HS256 token "signed" with a public
 * key) are refused. `exp` is required; `exp` and `nbf` are checked against the clock.
 *
 * @module
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";

/** The claims we read. Supabase puts the API role in `role` and ours in `app_metadata.role`. */
export interface JwtClaims extends JWTPayload {
  role?: string;
  email?: string;
  app_metadata?: { role?: unknown; [key: string]: unknown };
  user_metadata?: Record<string, unknown>;
  session_id?: string;
}

/** Why a token was refused. */
export type TokenProblem =
  | "malformed"
  | "algorithm"
  | "signature"
  | "expired"
  | "not_yet_valid"
  | "claims"
  /** The token needs a key this function was not given (e.g. HS256 without a legacy secret). */
  | "unverifiable"
  /** The JWKS could not be fetched: not the caller's fault. */
  | "keys_unavailable";

/** A refused token, with the reason callers map to an HTTP error. */
export class TokenError extends Error {
  constructor(readonly reason: TokenProblem, message: string) {
    super(message);
    this.name = "TokenError";
  }
}

/** Algorithms of Supabase's asymmetric signing keys; never HS256 on this path. */
export const ASYMMETRIC_ALGORITHMS = ["ES256", "RS256", "EdDSA", "Ed25519"] as const;

/** Where the project's keys come from. */
export interface TokenVerifierOptions {
  /**
   * The injected `SUPABASE_JWKS`: the project's public keys on a project with signing keys; on a
   * project still on the legacy secret, that secret as an `oct` key (as the CLI's `functions
   * serve` injects it), which verifies HS256 tokens.
   */
  jwks?: JSONWebKeySet;
  /**
   * `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`: fetched when no injected key has the token's
   * `kid` (keys rotate), at most once per {@linkcode JWKS_REFETCH_COOLDOWN_MS}.
   */
  jwksUrl?: URL;
  /** An operator's override for HS256 (`LEGACY_JWT_SECRET`): when set, the only HS256 key. */
  legacySecret?: string;
  /** Seconds since the epoch, for tests. Default: the clock. */
  now?: () => number;
}

/** Verifies tokens; see {@linkcode createTokenVerifier}. */
export interface TokenVerifier {
  /**
   * Checks a token's signature and its time claims.
   *
   * @throws {TokenError} `unverifiable` when no key this function has (or can fetch) fits the
   * token: the caller then asks the Auth API, as auth-js `getClaims` does.
   */
  verify(token: string): Promise<JwtClaims>;
}

/** The shortest time between two refetches of the JWKS for an unknown `kid`. */
export const JWKS_REFETCH_COOLDOWN_MS = 30_000;

/** The secrets of `oct` keys, with their `kid` when they carry one. */
function symmetricKeys(
  jwks: JSONWebKeySet | undefined,
): Array<{ kid?: string; secret: Uint8Array }> {
  return (jwks?.keys ?? [])
    .filter((key) => key.kty === "oct" && typeof key.k === "string" && key.k.length > 0)
    .filter((key) => key.alg === undefined || key.alg === "HS256")
    .map((key) => ({ kid: key.kid, secret: base64UrlBytes(key.k!) }));
}

function base64UrlBytes(text: string): Uint8Array {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(
    atob(base64 + "=".repeat((4 - base64.length % 4) % 4)),
    (c) => c.charCodeAt(0),
  );
}

/**
 * Builds a verifier over the project's keys.
 *
 * - HS256: against `legacySecret` when set, else against the `oct` keys of `jwks` whose `kid`
 *   matches the token's (a key or token without `kid` matches any). Never against a public key.
 * - ES256/RS256/EdDSA: against `jwks`; a `kid` it lacks is looked up at `jwksUrl` (one refetch,
 *   rate-limited); still unknown → `unverifiable`.
 *
 * @example
 * ```ts
 * const verifier = createTokenVerifier({ jwks: JSON.parse(Deno.env.get("SUPABASE_JWKS")!) });
 * const claims = await verifier.verify(token); // throws TokenError when refused
 * ```
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const publicKeys = {
    keys: (options.jwks?.keys ?? []).filter((key) => key.kty !== "oct"),
  } as JSONWebKeySet;
  const localSet: JWTVerifyGetKey | undefined = publicKeys.keys.length
    ? createLocalJWKSet(publicKeys)
    : undefined;
  const remoteSet = options.jwksUrl
    ? createRemoteJWKSet(options.jwksUrl, { cooldownDuration: JWKS_REFETCH_COOLDOWN_MS })
    : undefined;
  const hmacKeys = options.legacySecret
    ? [{ kid: undefined, secret: new TextEncoder().encode(options.legacySecret) }]
    : symmetricKeys(options.jwks);
  const verifyOptions = (algorithms: string[]) => ({
    algorithms,
    requiredClaims: ["exp"],
    currentDate: options.now ? new Date(options.now() * 1000) : undefined,
  });

  async function verifyHs256(token: string, kid: string | undefined): Promise<JwtClaims> {
    const candidates = hmacKeys.filter((key) => !key.kid || !kid || key.kid === kid);
    if (!candidates.length) {
      throw new TokenError("unverifiable", "No HS256 key of this function fits the token");
    }
    let lastError: unknown;
    for (const { secret } of candidates) {
      try {
        return (await jwtVerify(token, secret, verifyOptions(["HS256"]))).payload as JwtClaims;
      } catch (error) {
        if (!(error instanceof errors.JWSSignatureVerificationFailed)) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  async function verifyAsymmetric(token: string): Promise<JwtClaims> {
    const algorithms = verifyOptions([...ASYMMETRIC_ALGORITHMS]);
    if (localSet) {
      try {
        return (await jwtVerify(token, localSet, algorithms)).payload as JwtClaims;
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
        if (!remoteSet) {
          throw new TokenError("unverifiable", "No key of the injected JWKS has the token's kid");
        }
      }
    }
    if (!remoteSet) {
      throw new TokenError("unverifiable", "No JWKS is configured to verify this token");
    }
    try {
      return (await jwtVerify(token, remoteSet, algorithms)).payload as JwtClaims;
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) {
        throw new TokenError("unverifiable", "No key of the project's JWKS has the token's kid");
      }
      throw error;
    }
  }

  return {
    async verify(token) {
      let header: { alg?: string; kid?: string };
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw new TokenError("malformed", "The token is not a JSON Web Token");
      }
      if (token.split(".").length !== 3) {
        throw new TokenError("malformed", "The token is not a signed JSON Web Token");
      }
      try {
        if (header.alg === "HS256") return await verifyHs256(token, header.kid);
        if ((ASYMMETRIC_ALGORITHMS as readonly string[]).includes(header.alg ?? "")) {
          return await verifyAsymmetric(token);
        }
        throw new TokenError(
          "algorithm",
          `Token algorithm "${String(header.alg)}" is not accepted`,
        );
      } catch (error) {
        throw asTokenError(error);
      }
    },
  };
}

function asTokenError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof errors.JWTExpired) {
    return new TokenError("expired", "The token has expired");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return new TokenError("not_yet_valid", "The token is not valid yet");
    return new TokenError("claims", `The token's "${error.claim}" claim is ${error.reason}`);
  }
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return new TokenError("signature", "The token is not signed by this project's keys");
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new TokenError("algorithm", "The token's algorithm is not accepted");
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return new TokenError("malformed", "The token is not a valid JSON Web Token");
  }
  // JWKS timeouts, a JWKS that is not JSON, network errors: our side, not the caller's.
  return new TokenError("keys_unavailable", "The project's signing keys could not be loaded");
}

/** The bearer token of a request, or undefined. */
export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
