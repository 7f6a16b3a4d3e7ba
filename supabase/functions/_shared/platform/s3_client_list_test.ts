import assert from "node:assert/strict";
import type { AppError } from "../errors.ts";
import { storageAnswering } from "./testdata/answering_s3.ts";

const page = (truncated: boolean, token?: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>images</Name>` +
  `<Contents><Key>1.jpg</Key><Size>3</Size><ETag>"e"</ETag>` +
  `<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>` +
  `<IsTruncated>${truncated}</IsTruncated>` +
  (token ? `<NextContinuationToken>${token}</NextContinuationToken>` : "") +
  `</ListBucketResult>`;

Deno.test("listPage() refuses a page marked truncated that gives no continuation token", async () => {
  await assert.rejects(
    storageAnswering(page(true)).listPage(),
    (error: AppError) => error.status === 502 && error.code === "listing_truncated",
  );
});

Deno.test("listPage() passes the token of a truncated page on, and ends on the last one", async () => {
  assert.equal((await storageAnswering(page(true, "next")).listPage()).nextToken, "next");
  const last = await storageAnswering(page(false)).listPage();
  assert.equal(last.nextToken, undefined);
  assert.deepEqual(last.objects.map((o) => o.key), ["1.jpg"]);
});
