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
import { createRouter, type Route, type RouteContext } from "../_shared/server/router.ts";
import { readBodyLimited } from "../_shared/server/body_limit.ts";
import { BufferPool } from "./buffer_pool.ts";
import { config } from "../_shared/platform/config.ts";
import { getDb } from "../_shared/platform/db.ts";
import {
  createDirectUploads,
  DirectConfirmRequest,
  DirectUploadRequest,
  type DirectUploads,
} from "./direct_upload.ts";
import { ERRORS } from "../_shared/errors.ts";
import { parseJsonBody } from "../_shared/server/json_body.ts";
import { json } from "../_shared/server/responses.ts";
import { createImageIndex } from "../_shared/images/image_index.ts";
import { imageKey } from "../_shared/images/names.ts";
import { memoryPeak } from "../_shared/platform/memory_meter.ts";
import { multipartBoundary, parseMultipart } from "./multipart.ts";
import { createS3Storage } from "../_shared/platform/storage.ts";
import {
  createImageUploader,
  formatBytes,
  type ImageUploader,
  uploadSettings,
} from "./uploader.ts";

const FUNCTION_NAME = "upload-to-s3";

const UPLOADERS = ["manager", "admin"] as const;

/** Room for the multipart framing and the small text fields around the file. */
const MULTIPART_ALLOWANCE = 64 * 1024;

/** Upload bodies are read into reused buffers (see buffer_pool.ts); this much may stay idle. */
const bodyPool = new BufferPool(32 * 1024 * 1024);

/** Largest JSON body the direct-upload routes read. */
const MAX_JSON_BYTES = 16 * 1024;

/** What the routes use, built once from the configuration. */
export interface UploadServices {
  uploader: ImageUploader;
  direct: DirectUploads;
}

let services: UploadServices | undefined;

/** For tests: use `replacement` (fakes); `undefined` builds from the configuration again. */
export function setUploadServicesForTests(replacement: UploadServices | undefined): void {
  services = replacement;
}

/** The uploader and direct-upload services, built on first use from the configuration. */
function uploads() {
  if (services) return services;
  const settings = uploadSettings(config());
  const storage = createS3Storage(config());
  const uploader = createImageUploader({
    storage,
    index: createImageIndex(getDb(config())),
    settings,
  });
  services = { uploader, direct: createDirectUploads(storage, uploader) };
  return services;
}

/** Every route of the function; all but health need a manager or an admin. */
export const ROUTES: readonly Route[] = [
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

/** Handles one request (errors are rendered by `serveJson`). */
export const handle = createRouter({
  functionName: FUNCTION_NAME,
  routes: ROUTES,
});

async function uploadMultipart({ request }: RouteContext): Promise<Response> {
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
    if (file.bytes.length === 0) throw ERRORS.EmptyFile();
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

async function prepareDirect({ request, caller }: RouteContext): Promise<Response> {
  const input = await parseJsonBody(request, DirectUploadRequest, { maxBytes: MAX_JSON_BYTES });
  return json(await uploads().direct.prepare(input, caller.id), 200);
}

async function confirmDirect({ request, caller }: RouteContext): Promise<Response> {
  const input = await parseJsonBody(request, DirectConfirmRequest, { maxBytes: MAX_JSON_BYTES });
  const outcome = await uploads().direct.confirm(input, caller.id);
  return json(outcome.body, outcome.status);
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["true", "1", "yes", "on"].includes(value.trim().toLowerCase());
}
