/**
 * Single-file routes: add one file by name (checked against the bucket), remove an entry (and
 * optionally the object), and list/search the index with preview URLs.
 *
 * @module
 */
import { z } from "zod";
import { requireRole, ROLES } from "../../_shared/auth/roles.ts";
import { json } from "../../_shared/server/responses.ts";
import { parseJsonBody, parseQuery } from "../../_shared/server/json_body.ts";
import type { ServiceRouteContext as RouteContext } from "../handler.ts";
import type { RemoveFileAnswer } from "../../_shared/contract.ts";

/** Largest page of `GET /files` (each entry carries a signed URL, which costs CPU to sign). */
export const MAX_LIST_LIMIT = 200;

const AddBody = z.strictObject({
  filename: z.string().min(1).max(1024),
  /** Index the name even when the bucket has no such object (admin only). */
  force: z.boolean().default(false),
});

const ListQuery = z.strictObject({
  prefix: z.string().max(255).default(""),
  cursor: z.string().min(1).max(1024).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(50),
});

const RemoveQuery = z.strictObject({
  deleteObject: z.enum(["true", "false"]).default("false"),
});

/** `POST /files` `{filename, force?}` — adds one file with its metadata from S3. */
export async function addFile({ request, caller, services }: RouteContext): Promise<Response> {
  const body = await parseJsonBody(request, AddBody);
  if (body.force) requireRole(caller, ROLES.admins, "force-add a file the bucket does not hold");
  const result = await services.files.add(body.filename, { force: body.force });
  return json(result);
}

/** `DELETE /files/:filename[?deleteObject=true]` — removes the entry (then the object). */
export async function removeFile({ request, params, services }: RouteContext): Promise<Response> {
  const { deleteObject } = parseQuery(request, RemoveQuery);
  const result = await services.files.remove(params.filename, {
    deleteObject: deleteObject === "true",
  });
  return json(result satisfies RemoveFileAnswer);
}

/** `GET /files?prefix=&cursor=&limit=` — a page of the index, in byte order, with preview URLs. */
export async function listFiles({ request, services }: RouteContext): Promise<Response> {
  const query = parseQuery(request, ListQuery);
  const page = await services.files.list(query);
  return json(page);
}
