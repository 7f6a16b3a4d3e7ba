/**
 * The local gateway's `verify_jwt`, as the Supabase CLI's `functions serve` gateway does it
 * (its edge-runtime main service): the token's `alg` picks the key, HS256 is verified against
 * the legacy JWT secret and ES256/RS256 against the project's JWKS, each with `jose` directly;
 * any other algorithm (`none` included) is refused.
 *
 * Written against `jose` on purpose and importing nothing from `supabase/functions`: the
 * functions verify every token themselves with their own `auth/jwt.ts`, and a gateway built on
 * that module would pass whatever a bug there passes, so the two checks would be one.
 *
 * @module
 */
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  jwtVerify,
} from "jose";

/** The keys the gateway checks against (what the CLI injects into its gateway). */
export interface GatewayKeys {
  /** The legacy HS256 secret that signs the anon and service_role keys. */
  legacyJwtSecret: string;
  /** The project's public signing keys. */
  jwks: JSONWebKeySet;
}

/** The gateway's verdict on a bearer token. */
export type GatewayVerdict = "valid" | "expired" | "invalid";

/** Checks one token; never throws. */
export type GatewayVerifier = (token: string) => Promise<GatewayVerdict>;

/**
 * Builds the gateway's token check over `keys`.
 *
 * @example
 * ```ts
 * const verify = createGatewayVerifier({ legacyJwtSecret, jwks });
 * if (await verify(token) !== "valid") return new Response(null, { status: 401 });
 * ```
 */
export function createGatewayVerifier(keys: GatewayKeys): GatewayVerifier {
  const legacyKey = new TextEncoder().encode(keys.legacyJwtSecret);
  const keySet = createLocalJWKSet(keys.jwks);
  return async (token) => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return "invalid";
    }
    try {
      if (alg === "HS256") await jwtVerify(token, legacyKey, { algorithms: ["HS256"] });
      else if (alg === "ES256" || alg === "RS256") {
        await jwtVerify(token, keySet, { algorithms: ["ES256", "RS256"] });
      } else return "invalid";
      return "valid";
    } catch (error) {
      return error instanceof errors.JWTExpired ? "expired" : "invalid";
    }
  };
}

/** The bearer token of a request, or undefined. */
export function bearerToken(request: Request): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  return match?.[1];
}
