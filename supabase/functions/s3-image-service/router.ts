/**
 * A small router: routes declared as `METHOD /path/:param` with the roles that may call them.
 * A path that exists under another method answers 405 (with `Allow`), an unknown path 404.
 *
 * @module
 */
import type { Caller, CallerRole } from "../_shared/auth/authenticate.ts";
import { ERRORS } from "../_shared/errors.ts";

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
  /** Who may call it besides service_role (which may call everything); `[]`: service_role only. */
  roles: readonly CallerRole[];
  /** What the route does, for the 403 message ("Only admin users may <action>"). */
  action: string;
  handler: (context: RouteContext) => Promise<Response>;
}

/** A matched route and its parameters. */
export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/").filter(Boolean);
  const have = path.split("/").filter(Boolean);
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(":")) {
      try {
        params[want[i].slice(1)] = decodeURIComponent(have[i]);
      } catch {
        return null;
      }
    } else if (want[i] !== have[i]) {
      return null;
    }
  }
  return params;
}

/**
 * Finds the route for `method` and `path`.
 *
 * @throws 405 `method_not_allowed` when the path exists under other methods; 404 otherwise.
 */
export function matchRoute(routes: readonly Route[], method: string, path: string): RouteMatch {
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  if (allowed.length) {
    throw ERRORS.MethodNotAllowed(
      `${method} is not allowed on ${path}; use ${allowed.join(", ")}`,
      {
        allow: allowed,
      },
    );
  }
  throw ERRORS.NotFound(`No route ${method} ${path}`);
}
