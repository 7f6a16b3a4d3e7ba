/**
 * Routes for `s3-image-service`.
 *
 * @module
 */
import { ERRORS } from "../_shared/errors.ts";
import { healthResponse } from "../_shared/health.ts";
import { subPath } from "../_shared/http.ts";

const FUNCTION_NAME = "s3-image-service";

/** Handles one request (errors are rendered by `serveJson`). */
export async function handle(request: Request): Promise<Response> {
  const path = subPath(request, FUNCTION_NAME);
  if (path === "/health" && request.method === "GET") {
    return await healthResponse(request, FUNCTION_NAME);
  }
  throw ERRORS.NotFound(`No route ${request.method} ${path} on ${FUNCTION_NAME}`);
}
