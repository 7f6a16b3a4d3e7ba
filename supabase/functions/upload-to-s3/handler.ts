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
import type { z } from "zod";
import { authenticate, requireRole } from "../_shared/auth/authenticate.ts";
import { readBodyLimited } from "../_shared/body_limit.ts";
import { BufferPool } from "../_shared/buffer_pool.ts";
import { config } from "../_shared/config.ts";
import { getDb } from "../_shared/db.ts";
import {
  createDirectUploads,
  DirectConfirmRequest,
  DirectUploadRequest,
  type DirectUploads,
} from "../_shared/direct_upload.ts";
import { ERRORS } from "../_shared/errors.ts";
import { healthResponse } from "../_shared/health.ts";
import { errorResponse, json, subPath } from "../_shared/http.ts";
import { createImageIndex } from "../_shared/image_index.ts";
import { imageKey } from "../_shared/image_name.ts";
import { memoryPeak } from "../_shared/memory_meter.ts";
import { multipartBoundary, parseMultipart } from "../_shared/multipart.ts";
import { createS3Storage } from "../_shared/storage.ts";
import {
  createImageUploader,
  formatBytes,
  type ImageUploader,
  uploadSettings,
} from "../_shared/upload.ts";

const FUNCTION_NAME = "upload-to-s3";

/** Room for the multipart framing and the small text fields around the file. */
const MULTIPART_ALLOWANCE = 64 * 1024;

/** Upload bodies are read into reused buffers (see buffer_pool.ts); this much may stay idle. */
const bodyPool = new BufferPool(32 * 1024 * 1024);

/** Largest JSON body the direct-upload routes read. */
const MAX_JSON_BYTES = 16 * 1024;

const ROUTES: Record<string, { method: string; run: (request: Request) => Promise<Response> }> = {
  "/": { method: "POST", run: uploadMultipart },
  "/direct": { method: "POST", run: prepareDirect },
  "/direct/confirm": { method: "POST", run: confirmDirect },
};

let services: { uploader: ImageUploader; direct: DirectUploads } | undefined;

/** The uploader and direct-upload services, built on first use from the configuration. */
function uploads() {
  if (services) return services;
  const settings = uploadSettings(config());
  const storage = createS3Storage(config());
  const uploader = createImageUploader({
    storage,
    index: createImageIndex(getDb(config().SUPABASE_DB_URL)),
    settings,
  });
  services = { uploader, direct: createDirectUploads(storage, uploader) };
  return services;
}

/** Handles one request (errors are rendered by `serveJson`). */
export async function handle(request: Request): Promise<Response> {
  const path = subPath(request, FUNCTION_NAME);
  if (path === "/health" && request.method === "GET") {
    return await healthResponse(request, FUNCTION_NAME);
  }
  const route = ROUTES[path];
  if (!route) throw ERRORS.NotFound(`No route ${request.method} ${path} on ${FUNCTION_NAME}`);
  if (request.method !== route.method) {
    await request.body?.cancel().catch(() => {});
    const response = errorResponse(
      ERRORS.MethodNotAllowed(`${path} accepts ${route.method} only, not ${request.method}`),
    );
    response.headers.set("Allow", `${route.method}, OPTIONS`);
    return response;
  }
  const caller = await authenticate(request);
  requireRole(caller, ["manager", "admin"], "upload images");
  return await route.run(request);
}

async function uploadMultipart(request: Request): Promise<Response> {
  const { uploader } = uploads();
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
  memoryPeak.sample();
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
    if (file.bytes.length === 0) throw ERRORS.EmptyFile("The file is empty (0 bytes)");
    const outcome = await uploader.upload({
      key,
      bytes: file.bytes,
      replace: isTrue(form.fields.get("replace")),
    });
    memoryPeak.sample();
    return json(outcome.body, outcome.status);
  } finally {
    // The upload is stored (or refused) and nothing refers to its bytes any more.
    bodyPool.release(body.buffer as ArrayBuffer);
  }
}

async function prepareDirect(request: Request): Promise<Response> {
  const input = validate(DirectUploadRequest, await readJson(request));
  return json(await uploads().direct.prepare(input), 200);
}

async function confirmDirect(request: Request): Promise<Response> {
  const input = validate(DirectConfirmRequest, await readJson(request));
  const outcome = await uploads().direct.confirm(input);
  return json(outcome.body, outcome.status);
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["true", "1", "yes", "on"].includes(value.trim().toLowerCase());
}

/** The JSON body; 400 `invalid_json` when it is not JSON. */
async function readJson(request: Request): Promise<unknown> {
  const body = await readBodyLimited(request, MAX_JSON_BYTES);
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw ERRORS.InvalidJson("The request body must be JSON");
  }
}

/** `value` checked against `schema`; 400 `validation_failed` naming every bad field. */
function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) =>
    `${issue.path.join(".") || "body"}: ${issue.message}`
  );
  throw ERRORS.ValidationFailed(`The request is not valid: ${problems.join("; ")}`);
}
