/**
 * An S3 client and a store whose every answer is one given XML text: for tests of how listing
 * answers are read, without a server.
 *
 * @module
 */
import { S3Client } from "@aws-sdk/client-s3";
import { parseConfig } from "../config.ts";
import { createS3Storage } from "../s3_client.ts";
import type { ImageStorage } from "../storage.ts";

/** An SDK client whose every answer is `xml` with `status` (one attempt: no retries). */
export function clientAnswering(xml: string, status = 200): S3Client {
  return new S3Client({
    region: "us-east-1",
    credentials: { accessKeyId: "k", secretAccessKey: "s" },
    endpoint: "http://127.0.0.1:1",
    forcePathStyle: true,
    maxAttempts: 1,
    requestHandler: {
      handle: () =>
        Promise.resolve({
          response: {
            statusCode: status,
            headers: { "content-type": "application/xml" },
            body: new TextEncoder().encode(xml),
          },
        }),
    },
  });
}

/** Our store (`createS3Storage`) over {@linkcode clientAnswering}: every answer is `xml`. */
export function storageAnswering(xml: string): ImageStorage {
  return createS3Storage(
    parseConfig({
      AWS_ACCESS_KEY: "k",
      AWS_SECRET_ACCESS_KEY: "s",
      S3_BUCKET: "images",
      SUPABASE_DB_URL: "postgresql://x@127.0.0.1/x",
    }),
    clientAnswering(xml),
  );
}
