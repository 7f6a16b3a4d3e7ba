/**
 * The one router of both functions, on the runtime's built-in `URLPattern`: routes declared as
 * `METHOD /path/:param` with the roles that may call them. An unknown path answers 404; a known
 * path under another method 405 with an `Allow` header and `details.allow`. OPTIONS never gets
 * here: {@linkcode serveJson} answers preflights before any routing or auth.
 *
 * @module
 */
import type { Caller, CallerRole } from "../auth/authenticate.ts";
import { authenticate, requireRole } from "../auth/authenticate.ts";
import { ERRORS } from "../errors.ts";
import { healthResponse } from "./health.ts";
import { subPath } from "./responses.ts";

/** What a route handler receives. */
export interface RouteContext {
  request: Request;
  /** Path parameters, URL-decoded. */
  params: Record<string, string>;
  caller: Caller;
}

/** One route. */
export interface Route {
  method: "GET" | "POST" | "DELETE";
  /** `/rebuild/:id/cancel`; `:name` matches one path segment. */
  path: string;
  /**
   * Who may call it besides service_role (which may call everything); `[]`: service_role only;
   * `"public"`: the handler authenticates by itself (health).
   */
  roles: readonly CallerRole[] | "public";
  /** What the route does, for the 403 message ("Only admin users may <action>"). */
  action: string;
  handler: (context: RouteContext) => Promise<Response>;
}

/** A matched route and its parameters. */
export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

const patterns = new WeakMap<Route, URLPattern>();

function patternOf(route: Route): URLPattern {
  let pattern = patterns.get(route);
  if (!pattern) {
    pattern = new URLPattern({ pathname: route.path });
    patterns.set(route, pattern);
  }
  return pattern;
}

function decodeParams(groups: Record<string, string | undefined>): Record<string, string> | null {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(groups)) {
    if (value === undefined) continue;
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      return null; // a malformed escape names no resource of ours
    }
  }
  return params;
}

/**
 * Finds the route for `method` and `path` (the path after the function's name).
 *
 * @throws 405 `method_not_allowed` when the path exists under other methods; 404 otherwise.
 */
export function matchRoute(routes: readonly Route[], method: string, path: string): RouteMatch {
  const allowed: string[] = [];
  for (const route of routes) {
    const found = patternOf(route).exec({ pathname: path });
    const params = found && decodeParams(found.pathname.groups);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  if (allowed.length) {
    throw ERRORS.MethodNotAllowed(
      `${method} is not allowed on ${path}; use ${allowed.join(", ")}`,
      { allow: allowed },
    );
  }
  throw ERRORS.NotFound(`No route ${method} ${path}`);
}

/** What {@linkcode createRouter} needs. */
export interface RouterOptions {
  /** The function's name: requests arrive as `/<name>/…` or `/functions/v1/<name>/…`. */
  functionName: string;
  routes: readonly Route[];
  /** Verifies the caller's credentials (401 when it cannot). Default: the project's tokens. */
  authenticate?: (request: Request) => Promise<Caller>;
}

/**
 * A request handler for `routes` plus every function's `GET /health`: match, authenticate, check
 * the role, run. Errors are thrown for {@linkcode serveJson} to render.
 *
 * @example
 * ```ts
 * export const handle = createRouter({ functionName: "upload-to-s3", routes, authenticate });
 * ```
 */
export function createRouter(options: RouterOptions): (request: Request) => Promise<Response> {
  const routes: readonly Route[] = [...options.routes, {
    method: "GET",
    path: "/health",
    roles: "public",
    action: "check health",
    handler: ({ request }) => healthResponse(request, options.functionName),
  }];
  return async (request) => {
    const path = subPath(request, options.functionName);
    let match: RouteMatch;
    try {
      match = matchRoute(routes, request.method, path);
    } catch (error) {
      await request.body?.cancel().catch(() => {});
      throw error;
    }
    const { route, params } = match;
    if (route.roles === "public") {
      return await route.handler({ request, params, caller: PUBLIC_CALLER });
    }
    const caller = await (options.authenticate ?? authenticate)(request);
    requireRole(caller, route.roles, route.action);
    return await route.handler({ request, params, caller });
  };
}

/** The placeholder caller of a public route (its handler authenticates by itself). */
const PUBLIC_CALLER: Caller = { role: "anon", id: "anon", claims: {} };
