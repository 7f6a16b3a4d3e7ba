/**
 * Routes for `s3-image-service` (full reference: docs/s3-image-service.md). Every route but
 * `POST /events` authenticates the caller and checks the roles it declares (`ROLES` in `_shared/auth/roles.ts`;
 * `service_role` is in each set). The services come from the composition root (`index.ts`).
 *
 * | route                          | roles            |
 * | ------------------------------ | ---------------- |
 * | `POST /`                       | admin            |
 * | `POST /rebuild`                | admin            |
 * | `GET /rebuild`, `/rebuild/:id` | manager, admin   |
 * | `POST /rebuild/:id/continue`   | service_role     |
 * | `POST /rebuild/resume`         | service_role     |
 * | `POST /rebuild/:id/cancel`     | admin            |
 * | `POST /reconcile`              | admin            |
 * | `GET /reconcile/:id`           | manager, admin   |
 * | `POST /reconcile/:id/apply`    | admin            |
 * | `GET /stats`, `GET /files`     | manager, admin   |
 * | `POST /files`                  | manager, admin   |
 * | `DELETE /files/:filename`      | admin            |
 * | `POST /events`                 | `EVENTS_SECRET`  |
 *
 * `POST /events` (live sync, `routes/events.ts`) is the one door with a credential of its own:
 * bucket event senders present `EVENTS_SECRET`, never a user token, so the handler sends it past
 * the router and its user authenticator.
 *
 * @module
 */
import type { Authenticator } from "../_shared/auth/authenticate.ts";
import { ROLES } from "../_shared/auth/roles.ts";
import type { DependencyCheck } from "../_shared/server/health.ts";
import { type Handler, serveJson, subPath } from "../_shared/server/responses.ts";
import { createRouter, type Route, type RouteContext } from "../_shared/server/router.ts";
import { FUNCTION_NAME, type ServiceContext } from "./services.ts";
import { addFile, listFiles, removeFile } from "./routes/files.ts";
import { applyReconcile, reconcileStatus, startReconcile } from "./routes/reconcile.ts";
import {
  cancelRebuild,
  continueRebuild,
  latestRebuild,
  rebuildStatus,
  seedRebuild,
  startRebuild,
} from "./routes/rebuild.ts";
import { stats } from "./routes/stats.ts";
import { resumeStalled } from "./routes/resume.ts";
import { EVENTS_PATH, receiveEvents } from "./routes/events.ts";

/** What a route of this function receives. */
export type ServiceRouteContext = RouteContext<ServiceContext>;

const READERS = ROLES.staff;
const ADMINS = ROLES.admins;

/** Every route of the function. */
export const ROUTES: readonly Route<ServiceContext>[] = [
  { method: "POST", path: "/", roles: ADMINS, action: "rebuild the index", handler: seedRebuild },
  {
    method: "POST",
    path: "/rebuild",
    roles: ADMINS,
    action: "rebuild the index",
    handler: startRebuild,
  },
  {
    method: "GET",
    path: "/rebuild",
    roles: READERS,
    action: "read rebuild status",
    handler: latestRebuild,
  },
  {
    method: "GET",
    path: "/rebuild/:id",
    roles: READERS,
    action: "read rebuild status",
    handler: rebuildStatus,
  },
  {
    method: "POST",
    path: "/rebuild/:id/continue",
    roles: ROLES.service,
    action: "continue a rebuild",
    handler: continueRebuild,
  },
  {
    method: "POST",
    path: "/rebuild/resume",
    roles: ROLES.service,
    action: "resume stalled rebuilds",
    handler: resumeStalled,
  },
  {
    method: "POST",
    path: "/rebuild/:id/cancel",
    roles: ADMINS,
    action: "cancel a rebuild",
    handler: cancelRebuild,
  },
  {
    method: "POST",
    path: "/reconcile",
    roles: ADMINS,
    action: "reconcile the index",
    handler: startReconcile,
  },
  {
    method: "GET",
    path: "/reconcile/:id",
    roles: READERS,
    action: "read reconcile status",
    handler: reconcileStatus,
  },
  {
    method: "POST",
    path: "/reconcile/:id/apply",
    roles: ADMINS,
    action: "apply a reconcile",
    handler: applyReconcile,
  },
  { method: "GET", path: "/stats", roles: READERS, action: "read index stats", handler: stats },
  { method: "GET", path: "/files", roles: READERS, action: "list the index", handler: listFiles },
  { method: "POST", path: "/files", roles: READERS, action: "add files", handler: addFile },
  {
    method: "DELETE",
    path: "/files/:filename",
    roles: ADMINS,
    action: "remove files",
    handler: removeFile,
  },
];

/** What the composition root hands the function. */
export interface ServiceHandlerDeps {
  authenticator: () => Authenticator;
  services: () => ServiceContext;
  healthChecks: () => Record<string, DependencyCheck>;
}

/**
 * The function's request handler over `deps`: CORS and error rendering (`serveJson`), then the
 * router. `index.ts` calls it with the real services; tests with doubles.
 */
export function createServiceHandler(deps: ServiceHandlerDeps): Handler {
  const router = createRouter({ functionName: FUNCTION_NAME, routes: ROUTES, ...deps });
  return serveJson((request) =>
    subPath(request, FUNCTION_NAME) === EVENTS_PATH
      ? receiveEvents(request, () => deps.services().liveSync)
      : router(request)
  );
}
