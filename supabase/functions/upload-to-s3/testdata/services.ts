/**
 * The upload function over an in-memory bucket and index, for the handler and direct-upload
 * unit tests.
 *
 * @module
 */
import { setUploadServicesForTests } from "../handler.ts";
import { createDirectUploads } from "../direct_upload.ts";
import { createImageUploader, uploadSettings } from "../uploader.ts";
import { parseConfig } from "../../_shared/platform/config.ts";
import { FakeIndex, FakeStorage } from "../../../../tests/support/unit_fakes.ts";

/** Installs fresh upload services taking files up to `maxBytes`; returns their bucket and index. */
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
  setUploadServicesForTests({ uploader, direct: createDirectUploads(storage, uploader) });
  return { storage, index };
}
