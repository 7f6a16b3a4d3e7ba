/**
 * Helpers for the `s3-image-service` integration tests: out-of-band bucket writes, the bucket's
 * image keys and the index side by side, and driving jobs over HTTP to their end.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { StartBudget } from "../../supabase/functions/_shared/contract.ts";
import {
  contentTypeForName,
  filenameProblem,
} from "../../supabase/functions/_shared/images/names.ts";
import type { RebuildJob } from "../../supabase/functions/s3-image-service/jobs/job_store.ts";
import { testDb } from "../support/db.ts";
import { listBucket } from "../support/bucket.ts";
import { testStorage } from "../support/s3.ts";
import { callFunction, stackInfo } from "../support/stack.ts";

export const storage = testStorage();

/** A job as the service shows it. */
export type Job = RebuildJob & { duration_ms: number };

/** What the bucket or the index says about one image. */
export interface ImageFacts {
  size: number;
  etag: string;
  contentType: string;
  lastModified: string;
}

/** Distinct small bodies, so sizes and ETags differ from key to key. */
export function bodyFor(key: string, version = 0): Uint8Array {
  return new TextEncoder().encode(`${key}#${version}`.repeat(1 + (key.length + version) % 3));
}

/** PUTs `keys` straight to the bucket (not through our functions), 16 at a time. */
export async function putObjects(keys: string[], version = 0): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < keys.length) {
      const key = keys[next++];
      await storage.put(key, bodyFor(key, version), { contentType: "application/octet-stream" });
    }
  }));
}

/** Deletes `keys` straight from the bucket, 16 at a time. */
export async function deleteObjects(keys: string[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < keys.length) await storage.delete(keys[next++]);
  }));
}

/**
 * The bucket listing in S3 order (keys under `prefix`, or all): image keys with their facts, and
 * the refused keys. Listed with an independent `ListObjectsV2` client (`tests/support/bucket.ts`),
 * never through the `storage.listPage` the rebuild worker itself uses.
 */
export async function bucketListing(prefix?: string): Promise<{
  images: Map<string, ImageFacts>;
  refused: Array<{ key: string; problem: string }>;
  keys: number;
}> {
  const images = new Map<string, ImageFacts>();
  const refused: Array<{ key: string; problem: string }> = [];
  const objects = await listBucket(prefix);
  for (const object of objects) {
    const problem = filenameProblem(object.key);
    if (problem) {
      refused.push({ key: object.key, problem });
      continue;
    }
    images.set(object.key, {
      size: object.size,
      // The index keeps ETags without S3's quotes.
      etag: object.etag.replace(/^"|"$/g, ""),
      // The TypeScript mapping, so the SQL one is checked against an independent copy.
      contentType: contentTypeForName(object.key) ?? "(none)",
      lastModified: object.lastModified.toISOString(),
    });
  }
  return { images, refused, keys: objects.length };
}

/** Every index row (whose name starts with `prefix`, when given) with the facts a rebuild writes. */
export async function indexRows(prefix = ""): Promise<Map<string, ImageFacts>> {
  const rows = await testDb()`
    select filename, size_bytes::float8 as size, etag, content_type, last_modified
    from public.s3_image_cache where starts_with(filename, ${prefix})`;
  return new Map(rows.map((row) => [row.filename as string, {
    size: row.size as number,
    etag: row.etag as string,
    contentType: row.content_type as string,
    lastModified: (row.last_modified as Date | null)?.toISOString() ?? "",
  }]));
}

/** The index rows as they are, for "unchanged" comparisons (updated_at included). */
export async function indexSnapshot(): Promise<string[]> {
  const rows = await testDb()`
    select filename, size_bytes, etag, content_type, last_modified, updated_at
    from public.s3_image_cache order by filename collate "C"`;
  return rows.map((row) => JSON.stringify(row));
}

/**
 * Asserts the index holds exactly the bucket's image keys (under `prefix`, when given), with
 * their facts; returns them.
 */
export async function assertIndexEqualsBucket(prefix?: string): Promise<Map<string, ImageFacts>> {
  const { images } = await bucketListing(prefix);
  const rows = await indexRows(prefix);
  const missing = [...images.keys()].filter((key) => !rows.has(key));
  const extra = [...rows.keys()].filter((key) => !images.has(key));
  assert.deepEqual(
    { missing: missing.slice(0, 10), extra: extra.slice(0, 10) },
    { missing: [], extra: [] },
  );
  for (const [key, facts] of images) assert.deepEqual(rows.get(key), facts, key);
  return images;
}

/** Calls `s3-image-service/<path>` as `token` (the admin by default) with a JSON body. */
export function service(
  path: string,
  options: { method?: string; body?: unknown; token?: string } = {},
) {
  return callFunction(`s3-image-service${path}`, {
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    token: options.token ?? stackInfo().ADMIN_TOKEN,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    headers: { "content-type": "application/json" },
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `GET /rebuild/:id` until `done(job)` holds (default: the job is no longer running). */
export async function waitForJob(
  id: number,
  done: (job: Job) => boolean = (job) => job.status !== "running",
  timeoutMs = 90_000,
): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const { status, body } = await service(`/rebuild/${id}`);
    assert.equal(status, 200, JSON.stringify(body));
    const job = body.job as Job;
    if (done(job)) return job;
    if (Date.now() > deadline) {
      throw new Error(`Job ${id} did not get there in time: ${JSON.stringify(job)}`);
    }
    await sleep(100);
  }
}

/**
 * Starts a rebuild as service_role (with an optional smaller budget) and waits for its end.
 * Asserts it succeeded.
 */
export async function rebuildToEnd(budget?: StartBudget): Promise<Job> {
  const { status, body } = await service("/rebuild", {
    body: budget ? { budget } : {},
    token: stackInfo().SERVICE_ROLE_KEY,
  });
  assert.equal(status, 202, JSON.stringify(body));
  const job = await waitForJob((body.job as Job).id);
  assert.equal(job.status, "succeeded", JSON.stringify(job));
  return job;
}

/**
 * Polls `GET /reconcile/:id` while a reconcile answers 202 (still listing), with a deadline, and
 * returns its first other answer. `query`: e.g. `?sampleLimit=1000`.
 */
export async function untilReconciled(
  answer: { status: number; body: Record<string, unknown> },
  query = "",
  timeoutMs = 90_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const deadline = Date.now() + timeoutMs;
  while (answer.status === 202) {
    if (Date.now() > deadline) {
      throw new Error(
        `The reconcile did not finish listing in time: ${JSON.stringify(answer.body)}`,
      );
    }
    await sleep(100);
    answer = await service(`/reconcile/${(answer.body.job as Job).id}${query}`);
  }
  return answer;
}
