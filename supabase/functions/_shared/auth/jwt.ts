/**
 * Verifies Supabase JSON Web Tokens with `jose`, the way a hosted project needs it:
 *
 * - user tokens of projects with JWT signing keys (ES256/RS256/EdDSA) against the project's JWKS,
 *   injected as `SUPABASE_JWKS` or fetched from `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`;
 * - legacy HS256 tokens only against a legacy secret the operator set on purpose
 *   (`LEGACY_JWT_SECRET`: hosted never injects `SUPABASE_JWT_SECRET`).
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
  /** The project's public keys (`SUPABASE_JWKS`); wins over `jwksUrl`. */
  jwks?: JSONWebKeySet;
  /** Fetched on first use and cached (`createRemoteJWKSet`) when `jwks` is absent. */
  jwksUrl?: URL;
  /** Legacy HS256 secret; without it HS256 tokens are refused. */
  legacySecret?: string;
  /** Seconds since the epoch, for tests. Default: the clock. */
  now?: () => number;
}

/** Verifies tokens; see {@linkcode createTokenVerifier}. */
export interface TokenVerifier {
  /** Whether any key is configured at all. */
  readonly canVerify: boolean;
  /** @throws {TokenError} */
  verify(token: string): Promise<JwtClaims>;
}

/**
 * Builds a verifier over the project's keys.
 *
 * @example
 * ```ts
 * const verifier = createTokenVerifier({ jwks: JSON.parse(Deno.env.get("SUPABASE_JWKS")!) });
 * const claims = await verifier.verify(token); // throws TokenError when refused
 * ```
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const keySet: JWTVerifyGetKey | undefined = options.jwks
    ? createLocalJWKSet(options.jwks)
    : options.jwksUrl
    ? createRemoteJWKSet(options.jwksUrl)
    : undefined;
  const legacyKey = options.legacySecret
    ? new TextEncoder().encode(options.legacySecret)
    : undefined;
  const currentDate = () => options.now ? new Date(options.now() * 1000) : undefined;

  return {
    canVerify: Boolean(keySet || legacyKey),
    async verify(token) {
      let alg: string | undefined;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch {
        throw new TokenError("malformed", "The token is not a JSON Web Token");
      }
      if (token.split(".").length !== 3) {
        throw new TokenError("malformed", "The token is not a signed JSON Web Token");
      }
      try {
        if (alg === "HS256") {
          if (!legacyKey) {
            throw new TokenError(
              "unverifiable",
              "Legacy HS256 tokens are not accepted by this project",
            );
          }
          const { payload } = await jwtVerify(token, legacyKey, {
            algorithms: ["HS256"],
            requiredClaims: ["exp"],
            currentDate: currentDate(),
          });
          return payload as JwtClaims;
        }
        if ((ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg ?? "")) {
          if (!keySet) {
            throw new TokenError("unverifiable", "No JWKS is configured to verify this token");
          }
          const { payload } = await jwtVerify(token, keySet, {
            algorithms: [...ASYMMETRIC_ALGORITHMS],
            requiredClaims: ["exp"],
            currentDate: currentDate(),
          });
          return payload as JwtClaims;
        }
        throw new TokenError("algorithm", `Token algorithm "${String(alg)}" is not accepted`);
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
