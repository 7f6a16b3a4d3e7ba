/**
 * HTTP plumbing shared by both functions: CORS headers on every response, JSON bodies, one place
 * that renders any thrown error as `{ error: { code, message } }` without leaking internals.
 *
 * @module
 */
import { fromPostgresError } from "../platform/db_errors.ts";
import { AppError, ERRORS } from "../errors.ts";

/** CORS headers for the admin UI, which is served from another origin than the functions. */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers": "authorization, x-client-info, apikey, content-type, x-upsert",
  "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
  "Access-Control-Max-Age": "86400",
};

/** A JSON response with the CORS headers. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  const response = Response.json(body, { status, headers });
  for (const [name, value] of Object.entries(CORS_HEADERS)) response.headers.set(name, value);
  return response;
}

/** The CORS preflight answer: no token needed. */
export function preflight(): Response {
  return new Response(null, { status: 204, headers: CORS_HEADERS });
}

/** Renders any error; unknown ones become a 500 whose message carries no internals. */
export function errorResponse(error: unknown): Response {
  const appError = error instanceof AppError ? error : fromPostgresError(error);
  if (appError) {
    if (appError.status >= 500) console.error(appError.code, appError.message, error);
    const body: Record<string, unknown> = { code: appError.code, message: appError.message };
    if (appError.details) body.details = appError.details;
    // A 405 names what the path does accept, in the header RFC 9110 asks for too.
    const allow = appError.details?.allow;
    const headers: HeadersInit = Array.isArray(allow)
      ? { Allow: [...allow, "OPTIONS"].join(", ") }
      : {};
    return json({ error: body }, appError.status, headers);
  }
  console.error("Unhandled error:", error);
  const internal = ERRORS.Internal("Something went wrong on our side; the error was logged");
  return json({ error: { code: internal.code, message: internal.message } }, 500);
}

/** A request handler that may throw {@linkcode AppError}s. */
export type Handler = (request: Request) => Response | Promise<Response>;

/**
 * Wraps a handler the way every function needs it: OPTIONS answered first, every error rendered
 * by {@linkcode errorResponse}, and the CORS headers on every response.
 */
export function serveJson(handler: Handler): Handler {
  return async (request) => {
    if (request.method === "OPTIONS") return preflight();
    try {
      const response = await handler(request);
      for (const [name, value] of Object.entries(CORS_HEADERS)) {
        if (!response.headers.has(name)) response.headers.set(name, value);
      }
      return response;
    } catch (error) {
      return errorResponse(error);
    }
  };
}

/**
 * The path after `/<functionName>` (Supabase passes the full `/functions/v1/<name>/…` path on
 * hosted projects and `/<name>/…` locally; both reduce to the same sub-route).
 */
export function subPath(request: Request, functionName: string): string {
  const { pathname } = new URL(request.url);
  const marker = `/${functionName}`;
  const at = pathname.indexOf(marker);
  if (at === -1) return pathname.replace(/\/+$/, "") || "/";
  const rest = pathname.slice(at + marker.length);
  return rest.replace(/\/+$/, "") || "/";
}
