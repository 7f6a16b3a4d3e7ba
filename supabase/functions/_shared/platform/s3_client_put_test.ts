import assert from "node:assert/strict";
import { S3Client } from "@aws-sdk/client-s3";
import { parseConfig } from "./config.ts";
import { createS3Storage } from "./s3_client.ts";

/** An S3 client whose every request gets `headers` back, and which records what it sent. */
function answering(headers: Record<string, string>) {
  const sent: Array<{ method: string; headers: Record<string, string> }> = [];
  const client = new S3Client({
    region: "us-east-1",
    credentials: { accessKeyId: "k", secretAccessKey: "s" },
    endpoint: "http://127.0.0.1:1",
    forcePathStyle: true,
    requestHandler: {
      handle: (request: { method: string; headers: Record<string, string> }) => {
        sent.push({ method: request.method, headers: { ...request.headers } });
        return Promise.resolve({
          response: { statusCode: 200, headers, body: new Uint8Array(0) },
        });
      },
    },
  });
  const storage = createS3Storage(
    parseConfig({
      AWS_ACCESS_KEY: "k",
      AWS_SECRET_ACCESS_KEY: "s",
      S3_BUCKET: "images",
      SUPABASE_DB_URL: "postgresql://x@127.0.0.1/x",
    }),
    client,
  );
  return { storage, sent };
}

const body = new Uint8Array([1, 2, 3]);
const options = { contentType: "image/png" };

Deno.test("put() takes the write's time from Last-Modified when the store sends it", async () => {
  const { storage, sent } = answering({
    etag: '"abc"',
    date: "Mon, 23 Nov 2026 14:00:05 GMT",
    "last-modified": "Mon, 23 Nov 2026 14:00:04 GMT",
  });
  const written = await storage.put("a.png", body, options);
  assert.deepEqual(written, { etag: "abc", lastModified: new Date("2026-11-23T14:00:04Z") });
  assert.equal(sent.length, 1, "one request: no HeadObject after the write");
});

Deno.test("put() falls back to the Date header (S3 sends no Last-Modified on PutObject)", async () => {
  const { storage } = answering({ etag: '"abc"', date: "Mon, 23 Nov 2026 14:00:05 GMT" });
  const written = await storage.put("a.png", body, options);
  assert.equal(written.lastModified?.toISOString(), "2026-11-23T14:00:05.000Z");
});

Deno.test("put() leaves the time unknown when the answer has neither header", async () => {
  const { storage } = answering({ etag: '"abc"' });
  assert.equal((await storage.put("a.png", body, options)).lastModified, undefined);
});

Deno.test("put() signs with the caller's SHA-256 instead of hashing the body again", async () => {
  const { storage, sent } = answering({ etag: '"abc"' });
  const sha256 = "a".repeat(64);
  await storage.put("a.png", body, { ...options, sha256 });
  assert.equal(sent[0].headers["x-amz-content-sha256"], sha256);
  assert.match(sent[0].headers["authorization"] ?? "", /SignedHeaders=[^,]*x-amz-content-sha256/);
});

Deno.test("put() asks for a create-only write with If-None-Match: * when onlyIfAbsent", async () => {
  const { storage, sent } = answering({ etag: '"abc"' });
  await storage.put("a.png", body, { ...options, onlyIfAbsent: true });
  await storage.put("b.png", body, options);
  assert.equal(sent[0].headers["if-none-match"], "*");
  assert.equal(sent[1].headers["if-none-match"], undefined);
});
