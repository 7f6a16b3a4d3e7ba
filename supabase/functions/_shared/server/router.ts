/**
 * The one router of both functions, on the runtime's built-in `URLPattern`: routes declared as
 * `METHOD /path/:param` with the roles that may call them (`auth/roles.ts`). An unknown path answers 404; a known
 * path under another method 405 with an `Allow` header and `details.allow`. OPTIONS never gets
 * here: {@linkcode serveJson} answers preflights before any routing or auth.
 *
 * @module
 */
import { authenticate, type Authenticator } from "../auth/authenticate.ts";
import { type Caller, type CallerRole, requireRole } from "../auth/roles.ts";
import { ERRORS } from "../errors.ts";
import type { PeakMeter } from "../platform/memory_meter.ts";
import { type DependencyCheck, healthResponse } from "./health.ts";
import { subPath } from "./responses.ts";

/** What a route handler receives; `S` is the function's services, built by its composition root. */
export interface RouteContext<S = unknown> {
  request: Request;
  /** Path parameters, URL-decoded. */
  params: Record<string, string>;
  caller: Caller;
  services: S;
}

/** One route. */
export interface Route<S = unknown> {
  method: "GET" | "POST" | "DELETE";
  /** `/rebuild/:id/cancel`; `:name` matches one path segment. */
  path: string;
  /** Who may call it (one of {@linkcode ROLES}); checked by {@linkcode requireRole}. */
  roles: readonly CallerRole[];
  /** What the route does, for the 403 message ("Only admin users may <action>"). */
  action: string;
  handler: (context: RouteContext<S>) => Promise<Response>;
}

/** A matched route and its parameters. */
export interface RouteMatch<S = unknown> {
  route: Route<S>;
  params: Record<string, string>;
}

const patterns = new WeakMap<Route<never>, URLPattern>();

function patternOf(route: Route<never>): URLPattern {
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
export function matchRoute<S>(
  routes: readonly Route<S>[],
  method: string,
  path: string,
): RouteMatch<S> {
  const allowed: string[] = [];
  for (const route of routes) {
    const found = patternOf(route as Route<never>).exec({ pathname: path });
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

/** What {@linkcode createRouter} needs: the routes and what the composition root built. */
export interface RouterOptions<S> {
  /** The function's name: requests arrive as `/<name>/…` or `/functions/v1/<name>/…`. */
  functionName: string;
  routes: readonly Route<S>[];
  /** Verifies callers (401 when it cannot). Built from the auth settings alone. */
  authenticator: () => Authenticator;
  /** The function's services; built on first use, after the caller was let in. */
  services: () => S;
  /** The deep health checks of `GET /health?deep=true` (see health.ts). */
  healthChecks: () => Record<string, DependencyCheck>;
  /** The isolate's memory meter, reported to service_role by `GET /health`. */
  memory?: PeakMeter;
}

/** Anyone with a valid credential may ask a function whether it is healthy. */
const ANY_CALLER: readonly CallerRole[] = [
  "anon",
  "authenticated",
  "manager",
  "admin",
  "service_role",
];

/**
 * A request handler for `routes` plus every function's `GET /health`: match, authenticate, check
 * the role, run with the services. Errors are thrown for {@linkcode serveJson} to render.
 *
 * @example
 * ```ts
 * const handle = createRouter({ functionName: "upload-to-s3", routes, authenticator, services, healthChecks });
 * ```
 */
export function createRouter<S>(
  options: RouterOptions<S>,
): (request: Request) => Promise<Response> {
  type Entry = Route<S> | HealthRoute;
  const health: HealthRoute = {
    method: "GET",
    path: "/health",
    roles: ANY_CALLER,
    action: "check health",
    health: true,
  };
  const routes: readonly Entry[] = [...options.routes, health];
  return async (request) => {
    const path = subPath(request, options.functionName);
    let match: RouteMatch<S> | { route: HealthRoute; params: Record<string, string> };
    try {
      match = matchRoute(routes as readonly Route<S>[], request.method, path);
    } catch (error) {
      await request.body?.cancel().catch(() => {});
      throw error;
    }
    const { route, params } = match;
    // Who is calling comes first and from the auth settings alone, so a broken storage or
    // database setting never opens the door: it is reported to authenticated callers instead.
    const caller = await authenticate(request, options.authenticator());
    requireRole(caller, route.roles, route.action);
    if ("health" in route) {
      return await healthResponse(request, {
        functionName: options.functionName,
        caller,
        checks: options.healthChecks,
        memory: options.memory,
      });
    }
    return await route.handler({ request, params, caller, services: options.services() });
  };
}

/** The built-in `GET /health` route of every function. */
interface HealthRoute extends Omit<Route<never>, "handler"> {
  health: true;
}
