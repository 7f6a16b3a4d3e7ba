/**
 * Routes for `upload-to-s3` (see docs/upload.md):
 *
 * - `POST /`               multipart `file` (+ `filename`, `replace`): validate, store, index
 * - `POST /direct`         a presigned PUT to a staging key, for large files
 * - `POST /direct/confirm` check the staged file; store and index it, or delete it
 * - `GET  /health`
 *
 * @module
 */
import type { Authenticator } from "../_shared/auth/authenticate.ts";
import { ROLES } from "../_shared/auth/roles.ts";
import { ERRORS } from "../_shared/errors.ts";
import { createImageIndex } from "../_shared/images/image_index.ts";
import { imageKey } from "../_shared/images/names.ts";
import type { Config } from "../_shared/platform/config.ts";
import type { Sql } from "../_shared/platform/db.ts";
import type { PeakMeter } from "../_shared/platform/memory_meter.ts";
import { createS3Storage } from "../_shared/platform/s3_client.ts";
import { readBodyLimited } from "../_shared/server/body_limit.ts";
import type { DependencyCheck } from "../_shared/server/health.ts";
import { parseJsonBody } from "../_shared/server/json_body.ts";
import { type Handler, json, serveJson } from "../_shared/server/responses.ts";
import { createRouter, type Route, type RouteContext } from "../_shared/server/router.ts";
import { BufferPool } from "./buffer_pool.ts";
import {
  createDirectUploads,
  DirectConfirmRequest,
  DirectUploadRequest,
  type DirectUploads,
} from "./direct_upload.ts";
import { multipartBoundary, parseMultipart } from "./multipart.ts";
import {
  createImageUploader,
  formatBytes,
  type ImageUploader,
  uploadSettings,
} from "./uploader.ts";

const FUNCTION_NAME = "upload-to-s3";

const UPLOADERS = ROLES.staff;

/** Room for the multipart framing and the small text fields around the file. */
const MULTIPART_ALLOWANCE = 64 * 1024;

/** Largest JSON body the direct-upload routes read. */
const MAX_JSON_BYTES = 16 * 1024;

/** What the routes use, built once by the composition root (`index.ts`). */
export interface UploadServices {
  uploader: ImageUploader;
  direct: DirectUploads;
  /** Upload bodies are read into reused buffers (see buffer_pool.ts). */
  bodyPool: BufferPool;
  /** The isolate's memory meter, sampled where an upload holds the most (see `/health`). */
  memory: PeakMeter;
}

/** The real services over `config`'s bucket and the database client `sql`. */
export function buildUploadServices(config: Config, sql: Sql, memory: PeakMeter): UploadServices {
  const storage = createS3Storage(config);
  const uploader = createImageUploader({
    storage,
    index: createImageIndex(sql),
    settings: uploadSettings(config),
  });
  return {
    uploader,
    direct: createDirectUploads(storage, uploader),
    // At most this much stays idle for reuse.
    bodyPool: new BufferPool(32 * 1024 * 1024),
    memory,
  };
}

type UploadRouteContext = RouteContext<UploadServices>;

/** Every route of the function; all but health need a manager or an admin. */
export const ROUTES: readonly Route<UploadServices>[] = [
  {
    method: "POST",
    path: "/",
    roles: UPLOADERS,
    action: "upload images",
    handler: uploadMultipart,
  },
  {
    method: "POST",
    path: "/direct",
    roles: UPLOADERS,
    action: "upload images",
    handler: prepareDirect,
  },
  {
    method: "POST",
    path: "/direct/confirm",
    roles: UPLOADERS,
    action: "upload images",
    handler: confirmDirect,
  },
];

/** What the composition root hands the function. */
export interface UploadHandlerDeps {
  authenticator: () => Authenticator;
  services: () => UploadServices;
  healthChecks: () => Record<string, DependencyCheck>;
  memory?: PeakMeter;
}

/**
 * The function's request handler over `deps`: CORS and error rendering (`serveJson`), then the
 * router. `index.ts` calls it with the real services; tests with doubles.
 */
export function createUploadHandler(deps: UploadHandlerDeps): Handler {
  return serveJson(createRouter({ functionName: FUNCTION_NAME, routes: ROUTES, ...deps }));
}

async function uploadMultipart({ request, services }: UploadRouteContext): Promise<Response> {
  const { uploader, bodyPool, memory } = services;
  const boundary = multipartBoundary(request.headers.get("content-type"));
  if (!boundary) {
    await request.body?.cancel().catch(() => {});
    throw ERRORS.UnsupportedMediaType(
      "Send the image as multipart/form-data with a `file` field (and optionally `filename`, `replace`)",
    );
  }
  const { maxBytes } = uploader.settings;
  const body = await readBodyLimited(request, maxBytes + MULTIPART_ALLOWANCE, {
    tooLarge: () =>
      ERRORS.PayloadTooLarge(
        `The upload is larger than the ${
          formatBytes(maxBytes)
        } images may be; make the image smaller and upload it again`,
        { maxBytes },
      ),
    pool: bodyPool,
  });
  memory.sample();
  try {
    const form = parseMultipart(body, boundary);
    const file = form.files.get("file");
    if (!file) {
      throw ERRORS.MissingFile(
        form.fields.has("file")
          ? "The `file` field must be a file, not text"
          : "No image was sent: add the image as the `file` field",
      );
    }
    const key = imageKey(form.fields.get("filename") ?? file.filename);
    if (file.bytes.length === 0) throw ERRORS.EmptyFile();
    const outcome = await uploader.upload({
      key,
      bytes: file.bytes,
      replace: isTrue(form.fields.get("replace")),
    });
    memory.sample();
    return json(outcome.body, outcome.status);
  } finally {
    // The upload is stored (or refused) and nothing refers to its bytes any more.
    bodyPool.release(body.buffer as ArrayBuffer);
  }
}

async function prepareDirect({ request, caller, services }: UploadRouteContext): Promise<Response> {
  const input = await parseJsonBody(request, DirectUploadRequest, { maxBytes: MAX_JSON_BYTES });
  return json(await services.direct.prepare(input, caller.id), 200);
}

async function confirmDirect({ request, caller, services }: UploadRouteContext): Promise<Response> {
  const input = await parseJsonBody(request, DirectConfirmRequest, { maxBytes: MAX_JSON_BYTES });
  const outcome = await services.direct.confirm(input, caller.id);
  return json(outcome.body, outcome.status);
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["true", "1", "yes", "on"].includes(value.trim().toLowerCase());
}
