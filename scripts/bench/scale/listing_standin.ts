/**
 * A listing-only S3 for the scale benchmarks: answers ListObjectsV2 and HEAD over a synthetic
 * bucket of N product-image keys (key_space.ts), so a rebuild can list a million objects
 * without a million files in the emulator. Put the latency proxy (fault_proxy.ts) in front of
 * it to list at S3's pace; the rebuild runs unchanged against it, only its endpoint differs.
 *
 * What it answers, path-style (`/<bucket>…`, any bucket name; any SigV4 signature is accepted,
 * as it serves benchmarks only):
 *
 * - `GET /<bucket>?list-type=2`: `max-keys` (at most 1,000, the default), `start-after`,
 *   `continuation-token`, `prefix`, `encoding-type=url`; the XML the SDK parses (`Contents` with
 *   `Key`, `LastModified`, `ETag`, `Size`, `StorageClass`; `KeyCount`, `IsTruncated`,
 *   `NextContinuationToken`). A `delimiter` is refused with 501: no rebuild sends one.
 * - `HEAD /<bucket>` (HeadBucket): 200. `HEAD /<bucket>/<key>`: the key's size, ETag and date
 *   when the space has it, else 404.
 * - Anything else: 501 `NotImplemented` (the stand-in holds no bytes).
 *
 * ```sh
 * node_modules/.bin/deno run -A scripts/bench/scale/listing_standin.ts --objects=1000000 [--port=9100]
 * ```
 *
 * @module
 */
import { SyntheticKeySpace, type SyntheticObject } from "./key_space.ts";

/** Options for {@linkcode startListingStandin}. */
export interface ListingStandinOptions {
  /** Keys in the bucket. */
  objects: number;
  /** The key space's seed. Default 1. */
  seed?: number;
  /** Port on 127.0.0.1. Default: any free port. */
  port?: number;
}

/** A running stand-in. */
export interface ListingStandin {
  /** Its endpoint (`S3_ENDPOINT`). */
  readonly url: string;
  readonly port: number;
  /** The keys it lists. */
  readonly space: SyntheticKeySpace;
  /** Requests answered, by kind. */
  requests(): { list: number; head: number; other: number };
  stop(): Promise<void>;
}

const MAX_KEYS = 1000;
const TOKEN_PREFIX = "standin:";

/** Escapes text for an XML element. */
export function xmlEscape(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&apos;",
  );
}

/** S3's `encoding-type=url`: each byte percent-encoded except unreserved characters and `/`. */
function urlEncodeKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, "/").replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function s3Error(status: number, code: string, message: string, method: string): Response {
  const body = method === "HEAD"
    ? null
    : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}` +
      `</Code><Message>${
        xmlEscape(message)
      }</Message><RequestId>listing-standin</RequestId></Error>`;
  return new Response(body, { status, headers: { "content-type": "application/xml" } });
}

/** The continuation token for "go on at `index`": opaque to clients, as S3's are. */
function tokenFor(index: number): string {
  return btoa(`${TOKEN_PREFIX}${index}`);
}

function indexOfToken(token: string): number | undefined {
  let text: string;
  try {
    text = atob(token);
  } catch {
    return undefined;
  }
  if (!text.startsWith(TOKEN_PREFIX)) return undefined;
  const index = Number(text.slice(TOKEN_PREFIX.length));
  return Number.isSafeInteger(index) && index >= 0 ? index : undefined;
}

function contentTypeOf(key: string): string {
  const extension = key.slice(key.lastIndexOf(".") + 1).toLowerCase();
  return { jpg: "image/jpeg", png: "image/png", webp: "image/webp" }[extension] ??
    "application/octet-stream";
}

/**
 * One ListObjectsV2 answer over `space` for the request's query, as S3 writes it.
 *
 * @returns the XML, or an S3 error response for a query it refuses.
 */
export function listObjectsV2(
  space: SyntheticKeySpace,
  bucket: string,
  query: URLSearchParams,
): string | { status: number; code: string; message: string } {
  if (query.has("delimiter")) {
    return {
      status: 501,
      code: "NotImplemented",
      message: "The stand-in lists without a delimiter",
    };
  }
  const rawMaxKeys = query.get("max-keys");
  const maxKeys = rawMaxKeys === null ? MAX_KEYS : Number(rawMaxKeys);
  if (!Number.isInteger(maxKeys) || maxKeys < 0) {
    return {
      status: 400,
      code: "InvalidArgument",
      message: "Provided max-keys not an integer or within integer range",
    };
  }
  const limit = Math.min(maxKeys, MAX_KEYS);
  const prefix = query.get("prefix") ?? "";
  const startAfter = query.get("start-after") ?? "";
  const token = query.get("continuation-token");
  const urlEncoded = query.get("encoding-type") === "url";
  const encode = (text: string) => xmlEscape(urlEncoded ? urlEncodeKey(text) : text);

  // Where the page begins: the token wins over start-after, as on S3; never before the prefix.
  let from: number;
  if (token !== null) {
    const index = indexOfToken(token);
    if (index === undefined) {
      return {
        status: 400,
        code: "InvalidArgument",
        message: "The continuation token provided is incorrect",
      };
    }
    from = index;
  } else {
    from = startAfter ? space.indexAfter(startAfter) : 0;
  }
  if (prefix) from = Math.max(from, space.indexFrom(prefix));

  const objects: SyntheticObject[] = [];
  let index = from;
  for (; index < space.count && objects.length < limit; index++) {
    const object = space.object(index);
    if (!object.key.startsWith(prefix)) break;
    objects.push(object);
  }
  const more = index < space.count && (!prefix || space.key(index).startsWith(prefix));
  const parts = [
    '<?xml version="1.0" encoding="UTF-8"?>\n',
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
    `<Name>${xmlEscape(bucket)}</Name><Prefix>${encode(prefix)}</Prefix>`,
    `<KeyCount>${objects.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>`,
    ...(urlEncoded ? ["<EncodingType>url</EncodingType>"] : []),
    `<IsTruncated>${more}</IsTruncated>`,
    ...(token !== null ? [`<ContinuationToken>${xmlEscape(token)}</ContinuationToken>`] : []),
    ...(more ? [`<NextContinuationToken>${tokenFor(index)}</NextContinuationToken>`] : []),
    ...(startAfter ? [`<StartAfter>${encode(startAfter)}</StartAfter>`] : []),
  ];
  for (const object of objects) {
    parts.push(
      `<Contents><Key>${
        encode(object.key)
      }</Key><LastModified>${object.lastModified.toISOString()}` +
        `</LastModified><ETag>&quot;${object.etag}&quot;</ETag><Size>${object.size}</Size>` +
        "<StorageClass>STANDARD</StorageClass></Contents>",
    );
  }
  parts.push("</ListBucketResult>");
  return parts.join("");
}

/** Starts the stand-in on 127.0.0.1 (see the module doc for what it answers). */
export function startListingStandin(options: ListingStandinOptions): ListingStandin {
  const space = new SyntheticKeySpace(options.objects, options.seed ?? 1);
  const counts = { list: 0, head: 0, other: 0 };
  const handle = (request: Request): Response => {
    const url = new URL(request.url);
    const [bucket, ...rest] = url.pathname.slice(1).split("/");
    let key: string;
    try {
      key = rest.map(decodeURIComponent).join("/");
    } catch {
      return s3Error(400, "InvalidURI", "Couldn't parse the specified URI.", request.method);
    }
    if (request.method === "GET" && bucket && !key && url.searchParams.get("list-type") === "2") {
      counts.list++;
      const answer = listObjectsV2(space, bucket, url.searchParams);
      if (typeof answer !== "string") {
        return s3Error(answer.status, answer.code, answer.message, request.method);
      }
      return new Response(answer, { headers: { "content-type": "application/xml" } });
    }
    if (request.method === "HEAD" && bucket) {
      counts.head++;
      if (!key) return new Response(null, { status: 200 });
      const index = space.indexOf(key);
      if (index < 0) return s3Error(404, "NotFound", "Not Found", "HEAD");
      const object = space.object(index);
      return new Response(null, {
        headers: {
          "content-length": String(object.size),
          etag: `"${object.etag}"`,
          "last-modified": object.lastModified.toUTCString(),
          "content-type": contentTypeOf(key),
        },
      });
    }
    counts.other++;
    return s3Error(
      501,
      "NotImplemented",
      `The listing stand-in answers ListObjectsV2 and HEAD only, not ${request.method} ${url.pathname}`,
      request.method,
    );
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    async (request) => {
      await request.body?.cancel();
      return handle(request);
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    port: server.addr.port,
    space,
    requests: () => ({ ...counts }),
    stop: () => server.shutdown(),
  };
}

if (import.meta.main) {
  const flag = (name: string) =>
    Deno.args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const standin = startListingStandin({
    objects: Number(flag("objects") ?? 100_000),
    seed: Number(flag("seed") ?? 1),
    port: flag("port") ? Number(flag("port")) : undefined,
  });
  console.log(`Listing stand-in: ${standin.space.count} keys at ${standin.url} (Ctrl-C stops it)`);
}
