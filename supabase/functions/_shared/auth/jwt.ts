/**
 * HS256 JSON Web Tokens with WebCrypto: the format Supabase's legacy anon/service_role keys and
 * user sessions use. Verification refuses every algorithm but HS256 (so `alg: none` and key
 * confusion are impossible), a bad signature, a malformed token and an expired one.
 *
 * @module
 */

/** The claims we read. Supabase puts the API role in `role` and ours in `app_metadata.role`. */
export interface JwtClaims {
  role?: string;
  sub?: string;
  exp?: number;
  iat?: number;
  iss?: string;
  email?: string;
  app_metadata?: { role?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** Why a token was refused. */
export class JwtError extends Error {
  constructor(
    readonly reason: "malformed" | "algorithm" | "signature" | "expired",
    message: string,
  ) {
    super(message);
    this.name = "JwtError";
  }
}

const encoder = new TextEncoder();

function base64UrlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function base64UrlDecode(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new JwtError("malformed", "Token is not base64url");
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") +
    "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function decodeJson(part: string): Record<string, unknown> {
  try {
    const value = JSON.parse(new TextDecoder().decode(base64UrlDecode(part)));
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error();
    return value;
  } catch {
    throw new JwtError("malformed", "Token is not a JSON Web Token");
  }
}

const keyCache = new Map<string, Promise<CryptoKey>>();
function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    keyCache.set(secret, key);
  }
  return key;
}

/**
 * Signs `claims` with HS256.
 *
 * @example
 * ```ts
 * const token = await signJwt({ role: "authenticated", exp: Math.floor(Date.now() / 1000) + 3600 }, secret);
 * ```
 */
export async function signJwt(claims: JwtClaims, secret: string): Promise<string> {
  const header = base64UrlEncode(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const payload = base64UrlEncode(encoder.encode(JSON.stringify(claims)));
  const signature = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    encoder.encode(`${header}.${payload}`),
  );
  return `${header}.${payload}.${base64UrlEncode(new Uint8Array(signature))}`;
}

/**
 * Verifies an HS256 token and returns its claims.
 *
 * @param now seconds since the epoch (for tests); defaults to the clock.
 * @throws {JwtError} when the token is malformed, not HS256, wrongly signed or expired.
 */
export async function verifyJwt(
  token: string,
  secret: string,
  now = Math.floor(Date.now() / 1000),
): Promise<JwtClaims> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwtError("malformed", "Token is not a JSON Web Token");
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = decodeJson(headerPart);
  if (header.alg !== "HS256") {
    throw new JwtError("algorithm", `Token algorithm "${String(header.alg)}" is not accepted`);
  }
  const valid = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(secret),
    base64UrlDecode(signaturePart) as Uint8Array<ArrayBuffer>,
    encoder.encode(`${headerPart}.${payloadPart}`),
  );
  if (!valid) throw new JwtError("signature", "Token signature is invalid");
  const claims = decodeJson(payloadPart) as JwtClaims;
  if (claims.exp !== undefined && (typeof claims.exp !== "number" || claims.exp <= now)) {
    throw new JwtError("expired", "Token has expired");
  }
  return claims;
}

/** Reads the claims of a token without checking it: only for a token a gateway already verified. */
export function decodeJwtUnverified(token: string): JwtClaims {
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwtError("malformed", "Token is not a JSON Web Token");
  return decodeJson(parts[1]) as JwtClaims;
}

/** The bearer token of a request, or undefined. */
export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
