// The local S3 endpoint: s3rver (it runs on Node, not Deno) behind a thin guard.
//
// Run with `node --openssl-legacy-provider` — s3rver encrypts its ListObjectsV2 continuation
// tokens with DES, which Node 17+ only offers through the legacy provider; without it every
// listing past 1,000 keys answers 500.
//
// The guard exists because s3rver writes a key containing `..` outside its data directory: our
// functions refuse such names, but a stray script must not be able to write into the repository
// either. It also gives PUT and copy the conditional create S3, R2 and MinIO offer and s3rver
// ignores (`If-None-Match: *` answers 412 when the key exists), which the upload function relies
// on to never overwrite an image without replace=true. Injected failures are not its job: tests
// put scripts/stack/fault_proxy.ts in front of it.
//
// Usage: node --openssl-legacy-provider s3_emulator.mjs --port N --dir DIR --bucket NAME
import http from "node:http";
import { parseArgs } from "node:util";
import S3rver from "s3rver";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    address: { type: "string", default: "127.0.0.1" },
    dir: { type: "string" },
    bucket: { type: "string" },
  },
});
if (!values.port || !values.dir || !values.bucket) {
  console.error("usage: s3_emulator.mjs --port N --dir DIR --bucket NAME");
  process.exit(2);
}

// Browsers upload straight to the bucket with presigned PUTs and read previews with signed GETs.
const corsXml = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`;

const s3rver = new S3rver({
  address: values.address,
  port: Number(values.port),
  directory: values.dir,
  silent: true,
  configureBuckets: [{ name: values.bucket, configs: [corsXml] }],
});
await s3rver.configureBuckets();
const handle = s3rver.callback();

/** Keys of create-only writes in flight: a second one for the same key must lose, as on S3. */
const creating = new Set();

/**
 * `If-None-Match: *` on a PUT (or copy): answers 412 and returns true when the key exists or is
 * being created; otherwise reserves the key until the response ends.
 */
async function refusedCreate(req, res, rawPath) {
  if (req.method !== "PUT" || req.headers["if-none-match"] !== "*") return false;
  const [bucket, ...rest] = rawPath.split("/").filter(Boolean);
  const key = rest.join("/");
  if (!bucket || !key) return false;
  const id = `${bucket}/${key}`;
  // Reserve before the first await: checking, awaiting the store, then reserving would let every
  // request that arrived during the await through (seen on a loaded CI machine: 3 of 4 won).
  if (creating.has(id)) return preconditionFailed(req, res);
  creating.add(id);
  let exists;
  try {
    exists = await s3rver.store.existsObject(bucket, key);
  } catch (error) {
    creating.delete(id);
    throw error;
  }
  if (exists) {
    creating.delete(id);
    return preconditionFailed(req, res);
  }
  res.once("close", () => creating.delete(id));
  return false;
}

/** Answers 412 to a create-only write that lost; returns true (the request is handled). */
function preconditionFailed(req, res) {
  req.resume(); // drain the body; the answer does not depend on it
  xmlError(
    res,
    412,
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold",
  );
  return true;
}

function xmlError(res, status, code, message) {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  );
}

/**
 * `x-amz-copy-source-if-match` on a copy (s3rver ignores it): answers 412 and returns true when
 * the source's ETag is another, so a copy publishes exactly the bytes that were checked.
 */
async function refusedCopySource(req, res) {
  const expected = req.headers["x-amz-copy-source-if-match"];
  const source = req.headers["x-amz-copy-source"];
  if (req.method !== "PUT" || !expected || !source) return false;
  const [bucket, ...rest] = decodeURIComponent(source.split("?")[0]).split("/").filter(Boolean);
  const metadata = await s3rver.store.getMetadata(bucket, rest.join("/")).catch(() => null);
  const unquote = (etag) => String(etag ?? "").replace(/^W\//, "").replace(/"/g, "");
  if (metadata && unquote(metadata.etag) === unquote(expected)) return false;
  req.resume();
  xmlError(
    res,
    412,
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold",
  );
  return true;
}

const server = http.createServer((req, res) => {
  route(req, res).catch((error) => {
    // One bad request must never take the emulator down with it.
    console.error("s3 emulator: request failed:", req.method, req.url, error);
    if (!res.headersSent) xmlError(res, 500, "InternalError", "We encountered an internal error.");
    else res.destroy();
  });
});

async function route(req, res) {
  let rawPath;
  try {
    rawPath = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
  } catch {
    // A malformed percent-escape (`/bucket/%E0%A4%A`): S3 answers 400; it must not kill us.
    req.resume();
    xmlError(res, 400, "InvalidURI", "Couldn't parse the specified URI.");
    return;
  }
  if (rawPath.split("/").includes("..") || rawPath.includes("\\")) {
    xmlError(res, 400, "InvalidObjectName", "Keys with '..' segments are refused by this emulator");
    return;
  }
  if (await refusedCreate(req, res, rawPath)) return;
  if (await refusedCopySource(req, res)) return;
  handle(req, res);
}
server.listen(Number(values.port), values.address, () => {
  console.log(
    `s3 emulator ready on http://${values.address}:${values.port} bucket=${values.bucket}`,
  );
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
// s3rver's own handlers can throw outside our promise chain; log and stay up.
process.on("uncaughtException", (error) => console.error("s3 emulator: uncaught:", error));
process.on("unhandledRejection", (error) => console.error("s3 emulator: unhandled:", error));
