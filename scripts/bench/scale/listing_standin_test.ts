import assert from "node:assert/strict";
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { parseConfig } from "../../../supabase/functions/_shared/platform/config.ts";
import { createS3Storage } from "../../../supabase/functions/_shared/platform/s3_client.ts";
import { startListingStandin } from "./listing_standin.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeResources: false, sanitizeOps: false, fn });

function sdkClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "any", secretAccessKey: "signature-not-checked" },
    maxAttempts: 1,
  });
}

test("listing stand-in: the rebuild's storage pages through exactly the generated keys, in order", async () => {
  const standin = startListingStandin({ objects: 5_000, seed: 4 });
  try {
    // The functions' own storage module, configured as the functions would be.
    const storage = createS3Storage(parseConfig({
      AWS_ACCESS_KEY: "bench",
      AWS_SECRET_ACCESS_KEY: "bench-secret",
      AWS_REGION: "us-east-1",
      S3_BUCKET: "product-images",
      S3_ENDPOINT: standin.url,
      SUPABASE_DB_URL: "postgresql://postgres@127.0.0.1:9/postgres",
    }));
    const listed: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await storage.listPage({ token, maxKeys: 1000 });
      listed.push(...page.objects.map((object) => object.key));
      assert.ok(
        page.objects.every((object) => object.size > 0 && /^[0-9a-f]{32}$/.test(object.etag)),
      );
      token = page.nextToken;
      pages++;
    } while (token);
    assert.equal(pages, 5);
    assert.deepEqual(listed, Array.from({ length: 5_000 }, (_, i) => standin.space.key(i)));
    assert.ok(listed.some((key) => key.includes("&")), "XML-escaped keys come back whole");
  } finally {
    await standin.stop();
  }
});

test("listing stand-in: StartAfter, Prefix and MaxKeys through the SDK", async () => {
  const standin = startListingStandin({ objects: 5_000, seed: 4 });
  const client = sdkClient(standin.url);
  try {
    const { space } = standin;
    const after = await client.send(
      new ListObjectsV2Command({ Bucket: "b", StartAfter: space.key(1_234), MaxKeys: 10 }),
    );
    assert.deepEqual(
      after.Contents?.map((o) => o.Key),
      Array.from({ length: 10 }, (_, i) => space.key(1_235 + i)),
    );
    assert.equal(after.KeyCount, 10);
    assert.equal(after.IsTruncated, true);
    const next = await client.send(
      new ListObjectsV2Command({
        Bucket: "b",
        ContinuationToken: after.NextContinuationToken,
        MaxKeys: 2,
      }),
    );
    assert.deepEqual(next.Contents?.map((o) => o.Key), [space.key(1_245), space.key(1_246)]);
    const sku = await client.send(new ListObjectsV2Command({ Bucket: "b", Prefix: "SKU_" }));
    const expected = Array.from({ length: space.count }, (_, i) => space.key(i))
      .filter((key) => key.startsWith("SKU_"));
    assert.deepEqual(sku.Contents?.map((o) => o.Key), expected);
    assert.equal(sku.IsTruncated, false);
    const last = await client.send(
      new ListObjectsV2Command({ Bucket: "b", StartAfter: space.key(4_999) }),
    );
    assert.deepEqual([last.KeyCount, last.Contents, last.IsTruncated], [0, undefined, false]);
    await assert.rejects(
      client.send(new ListObjectsV2Command({ Bucket: "b", ContinuationToken: "garbage" })),
      (error: Error) => error.name === "InvalidArgument",
    );
  } finally {
    client.destroy();
    await standin.stop();
  }
});

test("listing stand-in: HEAD answers for keys in the space and 404 for others", async () => {
  const standin = startListingStandin({ objects: 1_000, seed: 2 });
  const client = sdkClient(standin.url);
  try {
    const key = standin.space.key(500);
    const head = await client.send(new HeadObjectCommand({ Bucket: "b", Key: key }));
    const object = standin.space.object(500);
    assert.equal(head.ContentLength, object.size);
    assert.equal(head.ETag, `"${object.etag}"`);
    assert.equal(head.LastModified?.getTime(), object.lastModified.getTime());
    await assert.rejects(
      client.send(new HeadObjectCommand({ Bucket: "b", Key: "absent.jpg" })),
      (error: Error) => error.name === "NotFound",
    );
    const put = await fetch(`${standin.url}/b/x.jpg`, { method: "PUT", body: "x" });
    assert.equal(put.status, 501);
    assert.match(await put.text(), /<Code>NotImplemented<\/Code>/);
    assert.deepEqual(standin.requests(), { list: 0, head: 2, other: 1 });
  } finally {
    client.destroy();
    await standin.stop();
  }
});
