import assert from "node:assert/strict";
import { AppError } from "../errors.ts";
import { matchRoute, type Route } from "./router.ts";

const handler = () => Promise.resolve(new Response());
const route = (method: Route["method"], path: string): Route => ({
  method,
  path,
  roles: [],
  action: "test",
  handler,
});
const ROUTES = [
  route("POST", "/"),
  route("GET", "/rebuild/:id"),
  route("POST", "/rebuild/:id/cancel"),
  route("GET", "/files"),
  route("POST", "/files"),
  route("DELETE", "/files/:filename"),
];

Deno.test("matchRoute() finds a route and decodes its parameters", () => {
  const match = matchRoute(ROUTES, "DELETE", "/files/a%20b.jpg");
  assert.equal(match.route.path, "/files/:filename");
  assert.deepEqual(match.params, { filename: "a b.jpg" });
  assert.deepEqual(matchRoute(ROUTES, "POST", "/rebuild/12/cancel").params, { id: "12" });
  assert.equal(matchRoute(ROUTES, "POST", "/").route.path, "/");
});

Deno.test("matchRoute() answers 405 naming the allowed methods for a known path", () => {
  assert.throws(() => matchRoute(ROUTES, "PUT", "/files"), (error: AppError) => {
    assert.equal(error.status, 405);
    assert.deepEqual(error.details, { allow: ["GET", "POST"] });
    return true;
  });
});

Deno.test("matchRoute() answers 404 for an unknown path", () => {
  assert.throws(
    () => matchRoute(ROUTES, "GET", "/nope"),
    (error: AppError) => error.status === 404,
  );
  assert.throws(
    () => matchRoute(ROUTES, "GET", "/rebuild/1/2/3"),
    (error: AppError) => error.status === 404,
  );
});

Deno.test("createRouter() answers 405 with an Allow header, 404 for unknown paths", async () => {
  const { createRouter } = await import("./router.ts");
  const { serveJson } = await import("./responses.ts");
  const handle = serveJson(createRouter({
    functionName: "fn",
    routes: ROUTES,
    authenticator: () => ({ authenticate: () => Promise.reject(new Error("not reached")) }),
    services: () => ({}),
    healthChecks: () => ({}),
  }));
  const wrongMethod = await handle(new Request("http://x/fn/files", { method: "PUT" }));
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "GET, POST, OPTIONS");
  assert.deepEqual((await wrongMethod.json()).error.details, { allow: ["GET", "POST"] });
  const unknown = await handle(new Request("http://x/fn/nope"));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.headers.get("access-control-allow-origin"), "*");
  const preflight = await handle(new Request("http://x/fn/files", { method: "OPTIONS" }));
  assert.equal(preflight.status, 204, "OPTIONS is answered before routing and auth");
});

Deno.test("matchRoute() answers 404, not 500, for a malformed escape in a path parameter", () => {
  assert.throws(
    () => matchRoute(ROUTES, "DELETE", "/files/%E0%A4%A.jpg"),
    (error: AppError) => error.status === 404,
  );
});

Deno.test("createRouter() adds the CORS headers to a handler's own response", async () => {
  const { createRouter } = await import("./router.ts");
  const { serveJson } = await import("./responses.ts");
  const handle = serveJson(createRouter({
    functionName: "fn",
    routes: [{
      ...route("GET", "/files"),
      roles: ["manager"],
      handler: () => Promise.resolve(new Response("x")),
    }],
    authenticator: () => ({
      authenticate: () => Promise.resolve({ role: "manager" as const, id: "u", claims: {} }),
    }),
    services: () => ({}),
    healthChecks: () => ({}),
  }));
  const response = await handle(new Request("http://x/functions/v1/fn/files/"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
});
