/**
 * The bucket as a third party sees it: a plain `@aws-sdk/client-s3` `ListObjectsV2` loop, built
 * here and sharing nothing with the functions' storage module. Index-equals-bucket checks list
 * through this, so a bug in `storage.listPage` (which the rebuild worker uses) cannot hide
 * itself by being on both sides of the comparison.
 *
 * @module
 */
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { stackInfo } from "./stack.ts";

/** One object as `ListObjectsV2` reports it. */
export interface ListedObject {
  key: string;
  size: number;
  /** With its quotes, as S3 sends it. */
  etag: string;
  lastModified: Date;
}

let client: S3Client | undefined;

function s3(): S3Client {
  const info = stackInfo();
  client ??= new S3Client({
    endpoint: info.S3_ENDPOINT,
    region: info.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: info.AWS_ACCESS_KEY, secretAccessKey: info.AWS_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return client;
}

/**
 * Every object in the stack's bucket whose key starts with `prefix` (all when absent), in the
 * order the store lists them, page by page until `IsTruncated` is false.
 *
 * @throws when the store says more keys follow but gives no continuation token.
 */
export async function listBucket(prefix?: string): Promise<ListedObject[]> {
  const objects: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await s3().send(
      new ListObjectsV2Command({
        Bucket: stackInfo().S3_BUCKET,
        Prefix: prefix,
        ContinuationToken: token,
      }),
    );
    for (const object of page.Contents ?? []) {
      objects.push({
        key: object.Key!,
        size: object.Size ?? 0,
        etag: object.ETag ?? "",
        lastModified: object.LastModified!,
      });
    }
    if (page.IsTruncated && !page.NextContinuationToken) {
      throw new Error("ListObjectsV2 said the listing is truncated but gave no token");
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/** The keys under `prefix`, for "nothing was written" checks. */
export async function bucketKeys(prefix?: string): Promise<string[]> {
  return (await listBucket(prefix)).map((object) => object.key);
}

/** Creates an empty bucket `name` on the stack's store (a "wrong S3_BUCKET" for guard tests). */
export async function createBucket(name: string): Promise<void> {
  await s3().send(new CreateBucketCommand({ Bucket: name }));
}
