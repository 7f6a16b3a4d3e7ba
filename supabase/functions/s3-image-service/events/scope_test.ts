import assert from "node:assert/strict";
import type { BucketEvent } from "./bucket_event.ts";
import { inScope } from "./scope.ts";

const event = (key: string, bucket = "product-images"): BucketEvent => ({
  bucket,
  key,
  action: "created",
  sequencer: "01",
  eventTime: "2026-12-07T09:00:00.000Z",
  size: 1,
  etag: "e",
});

Deno.test("inScope() keeps the bucket's events and leaves out other buckets and staging keys", () => {
  const result = inScope([
    event("1.jpg"),
    event("2.jpg", "another-bucket"),
    event("_incoming/u/0/1/3.jpg"),
    event("folder/4.jpg"),
  ], "product-images");
  assert.deepEqual(result.events.map((kept) => kept.key), ["1.jpg", "folder/4.jpg"]);
  assert.equal(result.outOfScope, 2);
});
