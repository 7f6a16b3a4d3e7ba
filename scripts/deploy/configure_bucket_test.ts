import assert from "node:assert/strict";
import {
  CreateBucketCommand,
  GetBucketCorsCommand,
  PutBucketCorsCommand,
} from "@aws-sdk/client-s3";
import { freePort, makeStackTempDir } from "../stack/process.ts";
import { EMULATOR_CREDENTIALS, startS3Emulator } from "../stack/s3.ts";
import {
  bucketSettings,
  configureBucket,
  createBucketClient,
  describeOutcomes,
  LIFECYCLE_RULE_ID,
} from "./configure_bucket.ts";

const ADMIN_ORIGIN = "https://admin.example.com";

/** Runs `body` against a fresh S3 emulator with an empty bucket that has no CORS rule yet. */
async function withEmulator(body: (endpoint: string, bucket: string) => Promise<void>) {
  const dir = await makeStackTempDir("s3-image-cache-bucket-test-");
  const port = freePort();
  const emulator = await startS3Emulator({ port, dataDir: dir, bucket: "preconfigured" });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createBucketClient(emulatorSettings(endpoint, "fresh"));
  try {
    await client.send(new CreateBucketCommand({ Bucket: "fresh" }));
    await body(endpoint, "fresh");
  } finally {
    client.destroy();
    await emulator.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function emulatorSettings(endpoint: string, bucket: string) {
  return bucketSettings({
    S3_BUCKET: bucket,
    AWS_REGION: "us-east-1",
    S3_ENDPOINT: endpoint,
    AWS_ACCESS_KEY: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
  }, {});
}

/** A browser's preflight for a presigned PUT from `origin`. */
async function preflight(endpoint: string, bucket: string, origin: string): Promise<Response> {
  const response = await fetch(`${endpoint}/${bucket}/_incoming/x/10/14000.jpg`, {
    method: "OPTIONS",
    headers: {
      Origin: origin,
      "Access-Control-Request-Method": "PUT",
      "Access-Control-Request-Headers": "content-type",
    },
  });
  await response.body?.cancel();
  return response;
}

Deno.test("configureBucket() lets the admin origin's browser PUT to presigned URLs, and no other origin", async () => {
  await withEmulator(async (endpoint, bucket) => {
    const client = createBucketClient(emulatorSettings(endpoint, bucket));
    try {
      assert.equal((await preflight(endpoint, bucket, ADMIN_ORIGIN)).status, 403);

      const outcomes = await configureBucket(client, bucket, { corsOrigins: [ADMIN_ORIGIN] });
      assert.equal(outcomes.find((o) => o.rule === "cors")?.status, "applied");

      const allowed = await preflight(endpoint, bucket, ADMIN_ORIGIN);
      assert.equal(allowed.status, 200);
      // S3 echoes the origin; s3rver answers `*` for any origin its rules allow.
      assert.ok(allowed.headers.get("access-control-allow-origin"));
      assert.match(allowed.headers.get("access-control-allow-methods") ?? "", /PUT/);
      const foreign = await preflight(endpoint, bucket, "https://evil.example");
      assert.equal(foreign.status, 403);
    } finally {
      client.destroy();
    }
  });
});

Deno.test("configureBucket() keeps the bucket's other CORS rules and replaces its own on a rerun", async () => {
  await withEmulator(async (endpoint, bucket) => {
    const client = createBucketClient(emulatorSettings(endpoint, bucket));
    try {
      await client.send(
        new PutBucketCorsCommand({
          Bucket: bucket,
          CORSConfiguration: {
            CORSRules: [{
              ID: "storefront",
              AllowedOrigins: ["https://shop.example.com"],
              AllowedMethods: ["GET"],
            }],
          },
        }),
      );
      await configureBucket(client, bucket, { corsOrigins: ["https://old.example.com"] });
      await configureBucket(client, bucket, { corsOrigins: [ADMIN_ORIGIN] });

      const { CORSRules = [] } = await client.send(new GetBucketCorsCommand({ Bucket: bucket }));
      assert.deepEqual(CORSRules.map((rule) => rule.AllowedOrigins), [
        ["https://shop.example.com"],
        [ADMIN_ORIGIN],
      ]);
      assert.equal((await preflight(endpoint, bucket, "https://old.example.com")).status, 403);
      assert.equal((await preflight(endpoint, bucket, ADMIN_ORIGIN)).status, 200);
    } finally {
      client.destroy();
    }
  });
});

Deno.test("configureBucket() reports a provider without a lifecycle API as unsupported, with a hint", async () => {
  // s3rver, like Supabase Storage, answers the lifecycle calls with NotImplemented.
  await withEmulator(async (endpoint, bucket) => {
    const client = createBucketClient(emulatorSettings(endpoint, bucket));
    try {
      const outcomes = await configureBucket(client, bucket);
      const lifecycle = outcomes.find((o) => o.rule === "lifecycle");
      assert.equal(lifecycle?.status, "unsupported");
      const lines = describeOutcomes(bucket, outcomes);
      assert.match(lines[1], /^UNSUPPORTED: lifecycle on bucket "fresh": NotImplemented/);
      assert.match(lines[1], /_incoming\/ objects older than a day/);
    } finally {
      client.destroy();
    }
  });
});

/** A fake S3 endpoint that records requests and answers the lifecycle calls as AWS does. */
async function withRecordingS3(
  existingLifecycle: string | null,
  body: (
    endpoint: string,
    requests: Array<{ method: string; url: URL; headers: Headers; body: string }>,
  ) => Promise<void>,
) {
  const requests: Array<{ method: string; url: URL; headers: Headers; body: string }> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    requests.push({
      method: request.method,
      url,
      headers: request.headers,
      body: await request.text(),
    });
    const xml = (status: number, text: string) =>
      new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${text}`, {
        status,
        headers: { "content-type": "application/xml" },
      });
    if (url.searchParams.has("cors") && request.method === "GET") {
      return xml(404, "<Error><Code>NoSuchCORSConfiguration</Code><Message>none</Message></Error>");
    }
    if (url.searchParams.has("lifecycle") && request.method === "GET") {
      return existingLifecycle === null
        ? xml(
          404,
          "<Error><Code>NoSuchLifecycleConfiguration</Code><Message>none</Message></Error>",
        )
        : xml(200, existingLifecycle);
    }
    return new Response(null, { status: 200 });
  });
  try {
    await body(`http://127.0.0.1:${server.addr.port}`, requests);
  } finally {
    await server.shutdown();
  }
}

Deno.test("configureBucket() sends a lifecycle rule expiring _incoming/ after 1 day, with the checksum S3 requires", async () => {
  await withRecordingS3(null, async (endpoint, requests) => {
    const client = createBucketClient(emulatorSettings(endpoint, "shop"));
    try {
      const outcomes = await configureBucket(client, "shop");
      assert.deepEqual(outcomes.map((o) => o.status), ["applied", "applied"]);
    } finally {
      client.destroy();
    }
    const put = requests.find((r) => r.method === "PUT" && r.url.searchParams.has("lifecycle"));
    assert.ok(put, "no PutBucketLifecycleConfiguration request");
    assert.match(put.url.pathname, /^\/shop\/?$/);
    const rule = /<Rule>(.*?)<\/Rule>/s.exec(put.body)?.[1] ?? "";
    assert.match(rule, new RegExp(`<ID>${LIFECYCLE_RULE_ID}</ID>`));
    assert.match(rule, /<Filter><Prefix>_incoming\/<\/Prefix><\/Filter>/);
    assert.match(rule, /<Status>Enabled<\/Status>/);
    assert.match(rule, /<Expiration><Days>1<\/Days><\/Expiration>/);
    const checksummed = [...put.headers.keys()].some((name) =>
      name === "content-md5" || name.startsWith("x-amz-checksum-")
    );
    assert.ok(checksummed, "S3 refuses a lifecycle PUT without Content-MD5 or x-amz-checksum-*");
  });
});

Deno.test("configureBucket() keeps the bucket's other lifecycle rules", async () => {
  const existing =
    `<LifecycleConfiguration><Rule><ID>archive-logs</ID><Filter><Prefix>logs/</Prefix>` +
    `</Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule>` +
    `<Rule><ID>${LIFECYCLE_RULE_ID}</ID><Filter><Prefix>_incoming/</Prefix></Filter>` +
    `<Status>Disabled</Status><Expiration><Days>7</Days></Expiration></Rule></LifecycleConfiguration>`;
  await withRecordingS3(existing, async (endpoint, requests) => {
    const client = createBucketClient(emulatorSettings(endpoint, "shop"));
    try {
      await configureBucket(client, "shop");
    } finally {
      client.destroy();
    }
    const put = requests.find((r) => r.method === "PUT" && r.url.searchParams.has("lifecycle"));
    const ids = [...(put?.body ?? "").matchAll(/<ID>([^<]+)<\/ID>/g)].map((m) => m[1]);
    assert.deepEqual(ids, ["archive-logs", LIFECYCLE_RULE_ID]);
    assert.doesNotMatch(put!.body, /<Days>7<\/Days>|Disabled/);
    assert.match(put!.body, /<Days>30<\/Days>/);
  });
});

Deno.test("bucketSettings() prefers the shell's bucket admin keys and names what is missing", () => {
  const file = {
    S3_BUCKET: "shop",
    AWS_ACCESS_KEY: "function-key",
    AWS_SECRET_ACCESS_KEY: "function-secret",
  };
  const admin = bucketSettings(file, {
    BUCKET_ADMIN_ACCESS_KEY: "admin-key",
    BUCKET_ADMIN_SECRET_ACCESS_KEY: "admin-secret",
  });
  assert.equal(admin.accessKeyId, "admin-key");
  assert.equal(admin.secretAccessKey, "admin-secret");
  assert.equal(admin.region, "us-east-1");
  assert.equal(admin.forcePathStyle, false);
  assert.equal(bucketSettings(file, {}).accessKeyId, "function-key");
  assert.throws(
    () => bucketSettings(file, { BUCKET_ADMIN_ACCESS_KEY: "admin-key" }),
    /set both BUCKET_ADMIN_ACCESS_KEY and BUCKET_ADMIN_SECRET_ACCESS_KEY/,
  );
  assert.throws(
    () => bucketSettings({ AWS_REGION: "auto" }, {}),
    /S3_BUCKET, AWS_ACCESS_KEY, AWS_SECRET_ACCESS_KEY not set/,
  );
});
