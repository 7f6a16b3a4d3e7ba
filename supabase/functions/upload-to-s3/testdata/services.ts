/**
 * The upload function over an in-memory bucket and index, for the handler and direct-upload
 * unit tests: built by the same handler factory the composition root (`index.ts`) uses.
 *
 * @module
 */
import { BufferPool } from "../buffer_pool.ts";
import { createUploadHandler } from "../handler.ts";
import { createDirectUploads } from "../direct_upload.ts";
import { createImageUploader, uploadSettings } from "../uploader.ts";
import { parseConfig } from "../../_shared/platform/config.ts";
import { PeakMeter } from "../../_shared/platform/memory_meter.ts";
import type { Handler } from "../../_shared/server/responses.ts";
import { FakeIndex } from "../../_shared/images/testdata/fake_index.ts";
import { FakeStorage } from "../../_shared/platform/testdata/fake_storage.ts";
import { testAuthenticator } from "../../_shared/auth/testdata/test_callers.ts";

let current: Handler | undefined;

/** The function as the last {@linkcode setUpUploadServices} built it. */
export const upload = {
  fetch(request: Request): Promise<Response> {
    if (!current) throw new Error("call setUpUploadServices() first");
    return Promise.resolve(current(request));
  },
};

/** Builds the function over a fresh bucket and index taking files up to `maxBytes`. */
export function setUpUploadServices(maxBytes: number, storage = new FakeStorage()) {
  const index = new FakeIndex();
  const settings = uploadSettings(parseConfig({
    AWS_ACCESS_KEY: "k",
    AWS_SECRET_ACCESS_KEY: "s",
    S3_BUCKET: "bucket",
    SUPABASE_DB_URL: "postgres://unused",
    MAX_UPLOAD_BYTES: String(maxBytes),
  }));
  const uploader = createImageUploader({ storage, index, settings });
  const services = {
    uploader,
    direct: createDirectUploads(storage, uploader),
    bodyPool: new BufferPool(8 * 1024 * 1024),
    memory: new PeakMeter(),
  };
  current = createUploadHandler({
    authenticator: testAuthenticator,
    services: () => services,
    healthChecks: () => ({}),
  });
  return { storage, index };
}
