import assert from "node:assert/strict";
import { S3Client } from "@aws-sdk/client-s3";
import type { AppError } from "../errors.ts";
import { parseConfig } from "./config.ts";
import { createS3Storage } from "./s3_client.ts";

/** A store whose every ListObjectsV2 answer is `xml`. */
function listingWith(xml: string) {
  const client = new S3Client({
    region: "us-east-1",
    credentials: { accessKeyId: "k", secretAccessKey: "s" },
    endpoint: "http://127.0.0.1:1",
    forcePathStyle: true,
    requestHandler: {
      handle: () =>
        Promise.resolve({
          response: {
            statusCode: 200,
            headers: { "content-type": "application/xml" },
            body: new TextEncoder().encode(xml),
          },
        }),
    },
  });
  return createS3Storage(
    parseConfig({
      AWS_ACCESS_KEY: "k",
      AWS_SECRET_ACCESS_KEY: "s",
      S3_BUCKET: "images",
      SUPABASE_DB_URL: "postgresql://x@127.0.0.1/x",
    }),
    client,
  );
}

const page = (truncated: boolean, token?: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>images</Name>` +
  `<Contents><Key>1.jpg</Key><Size>3</Size><ETag>"e"</ETag>` +
  `<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>` +
  `<IsTruncated>${truncated}</IsTruncated>` +
  (token ? `<NextContinuationToken>${token}</NextContinuationToken>` : "") +
  `</ListBucketResult>`;

Deno.test("listPage() refuses a page marked truncated that gives no continuation token", async () => {
  await assert.rejects(
    listingWith(page(true)).listPage(),
    (error: AppError) => error.status === 502 && error.code === "listing_truncated",
  );
});

Deno.test("listPage() passes the token of a truncated page on, and ends on the last one", async () => {
  assert.equal((await listingWith(page(true, "next")).listPage()).nextToken, "next");
  const last = await listingWith(page(false)).listPage();
  assert.equal(last.nextToken, undefined);
  assert.deepEqual(last.objects.map((o) => o.key), ["1.jpg"]);
});
