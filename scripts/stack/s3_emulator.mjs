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
// It also closes what s3rver leaves open and a real bucket does not:
// - anonymous requests (no `Authorization` header, no presigned query) are refused with 403
//   `AccessDenied`, CORS preflights excepted (a browser sends those without credentials);
// - a presigned PUT's SigV4 signature is verified, so the Content-Type and Content-Length it
//   signed are enforced (s3rver checks no signature at all);
// - a key whose file names would pass the filesystem's 255-byte limit (s3rver stores an object
//   as `<last segment>._S3rver_object` beside `….metadata.json`) is refused with 400
//   `KeyTooLongError` before anything is written (and read as absent): s3rver would write half
//   an object, and every listing after it answered 500 until the file was removed by hand;
// - `If-Match` on DELETE (S3 honours it): a 412 when the object has another ETag.
//
//
// With `EVENTS_URL` and `EVENTS_SECRET` in its environment it is also the bucket's event sender,
// as a MinIO server with a webhook target is: every put, copy, multipart completion and delete
// (DeleteObject and DeleteObjects, which s3rver announces none of) becomes an S3 notification
// record (s3_event_record.mjs) posted by event_delivery.mjs. `--events-prefix P` sends only keys
// starting with P, like a notification's prefix filter rule.
//
// Usage: node --openssl-legacy-provider s3_emulator.mjs --port N --dir DIR --bucket NAME
//          [--events-prefix P]
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, createHmac } from "node:crypto";
import { unlink } from "node:fs/promises";
import http from "node:http";
import { parseArgs } from "node:util";
import S3rver from "s3rver";
import { EventDelivery } from "./event_delivery.mjs";
import { createSequencer, s3Record } from "./s3_event_record.mjs";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    address: { type: "string", default: "127.0.0.1" },
    dir: { type: "string" },
    bucket: { type: "string" },
    "events-prefix": { type: "string", default: "" },
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

/** The request being handled, for the event listener (s3rver's events do not carry it). */
const requestContext = new AsyncLocalStorage();
const delivery = process.env.EVENTS_URL && process.env.EVENTS_SECRET
  ? new EventDelivery({ url: process.env.EVENTS_URL, secret: process.env.EVENTS_SECRET })
  : undefined;
const nextSequencer = createSequencer();

/** Builds S3's record for one change and hands it to the delivery (when there is one). */
function announce({ bucket, key, eventName, size, eTag }) {
  if (!delivery || !key.startsWith(values["events-prefix"])) return;
  // The sequencer is taken now, in the order the store changed, not when the post goes out.
  delivery.enqueue(s3Record({
    bucket,
    key,
    eventName,
    size,
    eTag,
    sequencer: nextSequencer(),
    sourceIp: requestContext.getStore()?.req.socket.remoteAddress,
  }));
}

/** ETags of copies just made, by `bucket/key`: s3rver's copy event omits the one S3 sends. */
const copiedEtags = new Map();
const storeCopyObject = s3rver.store.copyObject.bind(s3rver.store);
s3rver.store.copyObject = async (srcBucket, srcKey, destBucket, destKey, ...rest) => {
  const metadata = await storeCopyObject(srcBucket, srcKey, destBucket, destKey, ...rest);
  copiedEtags.set(`${destBucket}/${destKey}`, metadata.etag);
  return metadata;
};
// DeleteObjects (what `aws s3 rm --recursive` sends) deletes through the store without an event;
// S3 sends `ObjectRemoved:Delete` for each key it removed, so the store announces those here.
const storeDeleteObject = s3rver.store.deleteObject.bind(s3rver.store);
s3rver.store.deleteObject = async (bucket, key) => {
  await storeDeleteObject(bucket, key);
  if (requestContext.getStore()?.multiDelete) {
    announce({ bucket, key, eventName: "ObjectRemoved:Delete" });
  }
};
s3rver.on("event", (event) => {
  for (const record of event.Records) {
    const bucket = record.s3.bucket.name;
    const { key, size } = record.s3.object;
    let { eventName } = record;
    let eTag = record.s3.object.eTag;
    if (eventName === "ObjectCreated:Copy") {
      eTag = copiedEtags.get(`${bucket}/${key}`);
      copiedEtags.delete(`${bucket}/${key}`);
    }
    // s3rver calls a multipart completion a Post; S3 names it.
    const context = requestContext.getStore();
    if (eventName === "ObjectCreated:Post" && context?.url.searchParams.has("uploadId")) {
      eventName = "ObjectCreated:CompleteMultipartUpload";
    }
    announce({ bucket, key, eventName, size, eTag: eTag ? String(eTag).replace(/"/g, "") : "" });
  }
});

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

/** The one secret s3rver accepts (scripts/stack/s3.ts `EMULATOR_CREDENTIALS`). */
const SECRET_ACCESS_KEY = "S3RVER";

/** Whether the request carries credentials: a SigV4/V2 header or a presigned query. */
function hasCredentials(req, url) {
  return Boolean(req.headers.authorization) || url.searchParams.has("X-Amz-Algorithm") ||
    url.searchParams.has("Signature");
}

const rfc3986 = (value) =>
  encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
const hmac = (key, data) => createHmac("sha256", key).update(data).digest();

/**
 * Whether a presigned (query) SigV4 request's signature is right: S3's algorithm, over the path
 * as sent, the query without the signature, and the headers it names (`content-type` and
 * `content-length` for our PUTs), so another type or size than the one signed does not match.
 */
function presignedSignatureMatches(req, url) {
  const query = url.searchParams;
  const signature = query.get("X-Amz-Signature");
  const [, date, region, service] = /^[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(
    query.get("X-Amz-Credential") ?? "",
  ) ?? [];
  if (!signature || !date || query.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") return false;
  const signedHeaders = (query.get("X-Amz-SignedHeaders") ?? "").split(";").filter(Boolean);
  const canonicalQuery = [...query.entries()]
    .filter(([name]) => name !== "X-Amz-Signature")
    .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
    .sort()
    .join("&");
  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${String(req.headers[name] ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonicalRequest = [
    req.method,
    req.url.split("?")[0],
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(";"),
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    query.get("X-Amz-Date"),
    scope,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  let key = hmac(`AWS4${SECRET_ACCESS_KEY}`, date);
  for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
  return hmac(key, stringToSign).toString("hex") === signature;
}

/** The longest file name s3rver makes from a key's last segment: `<segment>._S3rver_metadata.json`. */
const STORE_SUFFIX_BYTES = Buffer.byteLength("._S3rver_metadata.json");
const NAME_MAX_BYTES = 255;

/** Whether s3rver could store `key` as whole files (each path segment within NAME_MAX). */
function keyFitsStore(key) {
  const segments = key.split("/");
  const last = segments.pop();
  return segments.every((segment) => Buffer.byteLength(segment) <= NAME_MAX_BYTES) &&
    Buffer.byteLength(last) + STORE_SUFFIX_BYTES <= NAME_MAX_BYTES;
}

/** `If-Match` on a DELETE: answers 412 and returns true when the object has another ETag. */
async function refusedDelete(req, res, rawPath) {
  const expected = req.headers["if-match"];
  if (req.method !== "DELETE" || !expected) return false;
  const [bucket, ...rest] = rawPath.split("/").filter(Boolean);
  const metadata = await s3rver.store.getMetadata(bucket, rest.join("/")).catch(() => null);
  const unquote = (etag) => String(etag ?? "").replace(/^W\//, "").replace(/"/g, "");
  if (!metadata || unquote(metadata.etag) === unquote(expected)) return false;
  xmlError(
    res,
    412,
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold",
  );
  return true;
}

/**
 * Removes the cached MD5 (the ETag) of a copy's destination. s3rver's copy with
 * `MetadataDirective: REPLACE` overwrites the bytes but keeps the old destination's
 * `.md5` file, so a copy over an existing object answered (and kept) the *old* object's ETag;
 * without the file s3rver computes it again from the new bytes.
 */
async function forgetEtag(rawPath) {
  const [bucket, ...rest] = rawPath.split("/").filter(Boolean);
  const md5Path = s3rver.store.getResourcePath(bucket, rest.join("/"), "object.md5");
  await unlink(md5Path).catch((error) => {
    if (error.code !== "ENOENT") throw error;
  });
}

const server = http.createServer((req, res) => {
  let url;
  try {
    url = new URL(req.url ?? "/", "http://localhost");
  } catch {
    url = new URL("http://localhost/"); // route() answers the malformed URL
  }
  const multiDelete = req.method === "POST" && url.searchParams.has("delete");
  requestContext.run({ req, url, multiDelete }, () => route(req, res)).catch((error) => {
    // One bad request must never take the emulator down with it.
    console.error("s3 emulator: request failed:", req.method, req.url, error);
    if (!res.headersSent) xmlError(res, 500, "InternalError", "We encountered an internal error.");
    else res.destroy();
  });
});

async function route(req, res) {
  let rawPath;
  let url;
  try {
    url = new URL(req.url, "http://localhost");
    rawPath = decodeURIComponent(url.pathname);
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
  if (req.method !== "OPTIONS" && !hasCredentials(req, url)) {
    req.resume();
    xmlError(
      res,
      403,
      "AccessDenied",
      "Anonymous access is refused by this emulator: sign the request",
    );
    return;
  }
  if (
    req.method === "PUT" && url.searchParams.has("X-Amz-Algorithm") &&
    !presignedSignatureMatches(req, url)
  ) {
    req.resume();
    xmlError(
      res,
      403,
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided (the signed Content-Type and Content-Length must be sent as signed)",
    );
    return;
  }
  const key = rawPath.split("/").filter(Boolean).slice(1).join("/");
  if (key && !keyFitsStore(key)) {
    req.resume();
    // Such a key can never have been stored: reading it finds nothing, deleting it is done.
    if (req.method === "GET" || req.method === "HEAD") {
      xmlError(res, 404, "NoSuchKey", "The specified key does not exist.");
      return;
    }
    if (req.method === "DELETE") {
      res.writeHead(204).end();
      return;
    }
    xmlError(
      res,
      400,
      "KeyTooLongError",
      `Your key is too long for this emulator: at most ${
        NAME_MAX_BYTES - STORE_SUFFIX_BYTES
      } bytes after the last '/'`,
    );
    return;
  }
  if (await refusedDelete(req, res, rawPath)) return;
  if (await refusedCreate(req, res, rawPath)) return;
  if (await refusedCopySource(req, res)) return;
  if (req.method === "PUT" && req.headers["x-amz-copy-source"] && key) await forgetEtag(rawPath);
  handle(req, res);
}
server.listen(Number(values.port), values.address, () => {
  console.log(
    `s3 emulator ready on http://${values.address}:${values.port} bucket=${values.bucket}`,
  );
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    // Whatever is still queued is named in the log (never dropped silently).
    delivery?.stop();
    server.close(() => process.exit(0));
  });
}
// s3rver's own handlers can throw outside our promise chain; log and stay up.
process.on("uncaughtException", (error) => console.error("s3 emulator: uncaught:", error));
process.on("unhandledRejection", (error) => console.error("s3 emulator: unhandled:", error));
