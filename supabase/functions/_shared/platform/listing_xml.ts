/**
 * A fast reader for the one S3 answer a rebuild reads a thousand times: a ListObjectsV2 page.
 *
 * Why: the SDK turns a 1,000-key page (~210 KB of XML) into objects with a general XML parser and
 * its schema walker, about 13 ms of CPU a page here — most of a rebuild's CPU, which Supabase
 * counts against each isolate (2 s). This reader scans the same text with `indexOf` in about a
 * tenth of that. It is strict: anything it does not fully recognise (another root element, a
 * CDATA section, an entity it does not know, `CommonPrefixes`, URL-encoded keys, a count that does
 * not add up, a date or size that does not parse) makes it answer null, and the SDK reads the
 * page as before. Errors (any status but 2xx) never reach it.
 *
 * It hooks into the SDK's middleware stack of one command ({@linkcode withFastListing}), so
 * signing, endpoints, retries and error handling stay the SDK's.
 *
 * @module
 */
import type { ListObjectsV2Command } from "@aws-sdk/client-s3";

type SdkMiddleware = Parameters<ListObjectsV2Command["middlewareStack"]["addRelativeTo"]>[0];

/** One key of a page, in the SDK's own field names (`ListObjectsV2CommandOutput["Contents"]`). */
export interface ListedObject {
  Key: string;
  Size: number;
  ETag?: string;
  LastModified?: Date;
}

/** The parts of a page the rebuild reads. */
export interface ParsedListing {
  Contents: ListedObject[];
  IsTruncated: boolean;
  NextContinuationToken?: string;
  KeyCount?: number;
}

const NAMED: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

const ENTITY = /&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g;

/** XML text with its entities resolved, or null for an entity XML does not define or a bare `&`. */
function decodeText(text: string): string | null {
  if (!text.includes("&")) return text;
  // Every ETag on a page is `&quot;<hex>&quot;`: worth a path without regular expressions.
  if (
    text.startsWith("&quot;") && text.endsWith("&quot;") && text.length >= 12 &&
    text.indexOf("&", 6) === text.length - 6
  ) return `"${text.slice(6, -6)}"`;
  if (text.replace(ENTITY, "").includes("&")) return null;
  let valid = true;
  const decoded = text.replace(ENTITY, (_, name: string) => {
    if (name[0] !== "#") return NAMED[name] ?? ((valid = false), "");
    const code = name[1] === "x" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    if (!(code > 0 && code <= 0x10ffff)) return (valid = false), "";
    return String.fromCodePoint(code);
  });
  return valid ? decoded : null;
}

/** The text of `<tag>…</tag>` inside `xml[from, to)`, or undefined when absent. */
function element(xml: string, tag: string, from: number, to: number): string | undefined {
  const open = xml.indexOf(`<${tag}>`, from);
  if (open < 0 || open >= to) return undefined;
  const start = open + tag.length + 2;
  const close = xml.indexOf(`</${tag}>`, start);
  if (close < 0 || close > to) return undefined;
  return xml.slice(start, close);
}

const ROOT = /^\s*(?:<\?xml[^>]*\?>\s*)?<ListBucketResult(?:\s[^>]*)?>/;
const CONTENTS_END = "</Contents>";

/**
 * Reads a ListObjectsV2 answer, or null when it is not one this reader fully understands. The
 * answer may come whole or in pieces cut right after a `</Contents>` ({@linkcode decodePieces});
 * both read the same.
 *
 * @example
 * ```ts
 * parseListObjectsV2(
 *   '<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>1.jpg</Key>' +
 *     "<Size>3</Size></Contents></ListBucketResult>",
 * ); // { Contents: [{ Key: "1.jpg", Size: 3 }], IsTruncated: false }
 * ```
 */
export function parseListObjectsV2(answer: string | readonly string[]): ParsedListing | null {
  const pieces = typeof answer === "string" ? [answer] : answer;
  if (!pieces.length) return null;
  const first = pieces[0];
  const last = pieces[pieces.length - 1];
  const root = ROOT.exec(first);
  if (!root || !last.trimEnd().endsWith("</ListBucketResult>")) return null;
  for (const piece of pieces) {
    if (
      piece.includes("<![CDATA[") || piece.includes("<CommonPrefixes>") ||
      piece.includes("<EncodingType>") || piece.includes("<!DOCTYPE")
    ) return null;
  }

  // The page's own fields lie outside its Contents: before the first (S3, MinIO and the emulators
  // write them there) or after the last. A piece ends right after a `</Contents>`, so the first
  // piece holds the head and the last the tail.
  const rootEnd = root[0].length;
  const firstContents = first.indexOf("<Contents>", rootEnd);
  const headEnd = firstContents < 0 ? first.length : firstContents;
  const lastEnd = last.lastIndexOf(CONTENTS_END);
  const tailStart = pieces.length === 1 && firstContents < 0
    ? first.length
    : lastEnd < 0
    ? 0
    : lastEnd + CONTENTS_END.length;
  const field = (tag: string) =>
    element(first, tag, rootEnd, headEnd) ?? element(last, tag, tailStart, last.length);
  const truncated = field("IsTruncated");
  if (truncated !== "true" && truncated !== "false") return null;
  const tokenText = field("NextContinuationToken");
  const token = tokenText === undefined ? undefined : decodeText(tokenText);
  if (token === null) return null;
  const countText = field("KeyCount");

  const contents: ListedObject[] = [];
  let opened = 0;
  for (let i = 0; i < pieces.length; i++) {
    const xml = pieces[i];
    if (!readContents(xml, i === 0 ? rootEnd : 0, contents)) return null;
    opened += countOf(xml, "<Contents");
  }
  // Every Contents element was read: a `<Contents ` with attributes, or a count that disagrees,
  // means the text holds something this reader skipped.
  if (opened !== contents.length) return null;
  let keyCount: number | undefined;
  if (countText !== undefined) {
    keyCount = Number(countText);
    if (keyCount !== contents.length) return null;
  }
  return {
    Contents: contents,
    IsTruncated: truncated === "true",
    ...(token !== undefined ? { NextContinuationToken: token } : {}),
    ...(keyCount !== undefined ? { KeyCount: keyCount } : {}),
  };
}

/** Reads the `<Contents>` elements of `xml` from `from` into `into`; false for one it cannot. */
function readContents(xml: string, from: number, into: ListedObject[]): boolean {
  let at = xml.indexOf("<Contents>", from);
  while (at >= 0) {
    const end = xml.indexOf(CONTENTS_END, at);
    if (end < 0) return false;
    const keyText = element(xml, "Key", at, end);
    const sizeText = element(xml, "Size", at, end);
    if (keyText === undefined || sizeText === undefined) return false;
    const key = decodeText(keyText);
    const size = Number(sizeText);
    if (key === null || !key.length || !Number.isSafeInteger(size) || size < 0) return false;
    const object: ListedObject = { Key: key, Size: size };
    const etagText = element(xml, "ETag", at, end);
    if (etagText !== undefined) {
      const etag = decodeText(etagText);
      if (etag === null) return false;
      object.ETag = etag;
    }
    const modified = element(xml, "LastModified", at, end);
    if (modified !== undefined) {
      const millis = Date.parse(modified);
      if (Number.isNaN(millis)) return false;
      object.LastModified = new Date(millis);
    }
    into.push(object);
    at = xml.indexOf("<Contents>", end);
  }
  return true;
}

/**
 * About how many bytes of a page one decoded piece holds ({@linkcode decodePieces}): well under
 * V8's largest regular object (128 KiB), even when every character takes two bytes.
 */
export const PIECE_BYTES = 32 * 1024;
const CONTENTS_END_BYTES = new TextEncoder().encode(CONTENTS_END);

/** Where `needle` next occurs in `bytes` at or after `from`, or -1. */
function indexOfBytes(bytes: Uint8Array, needle: Uint8Array, from: number): number {
  for (let at = bytes.indexOf(needle[0], from); at >= 0; at = bytes.indexOf(needle[0], at + 1)) {
    let j = 1;
    while (j < needle.length && bytes[at + j] === needle[j]) j++;
    if (j === needle.length) return at;
  }
  return -1;
}

/**
 * A page's bytes as text in pieces of about `size` bytes, each but the last ending right after a
 * `</Contents>`, for {@linkcode parseListObjectsV2}.
 *
 * Why not one string: a 1,000-key page is ~210 KB of text, which V8 allocates in its large-object
 * space, one per page listed, and the worker's peak memory then grew with the pages it listed
 * (a bare Deno with the edge runtime's 256 MB heap reading the same page: +13–17 MiB after 5
 * pages, +21–24 after 20; in pieces: +12–13 and +14–15). Cut right after `>`, a piece never
 * splits a UTF-8 sequence, and nothing the reader looks for can straddle a cut; the pieces
 * joined are exactly the whole decoded (a byte-order mark only counts at the very start).
 */
export function decodePieces(bytes: Uint8Array, size = PIECE_BYTES): string[] {
  const pieces: string[] = [];
  let from = 0;
  while (from < bytes.length) {
    const end = from + size >= bytes.length
      ? -1
      : indexOfBytes(bytes, CONTENTS_END_BYTES, from + size);
    const cut = end < 0 ? bytes.length : end + CONTENTS_END_BYTES.length;
    const decoder = new TextDecoder("utf-8", { ignoreBOM: from > 0 });
    pieces.push(decoder.decode(bytes.subarray(from, cut)));
    from = cut;
  }
  return pieces.length ? pieces : [""];
}

function countOf(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) {
    count++;
  }
  return count;
}

/** What the SDK's own parser gets once the page was read here: a page with nothing on it. */
const READ_ALREADY = new TextEncoder().encode(
  '<?xml version="1.0" encoding="UTF-8"?>' +
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></ListBucketResult>',
);

type Body = Uint8Array | string | AsyncIterable<Uint8Array | string> | undefined;

async function bytesOf(body: Body): Promise<Uint8Array> {
  if (body === undefined) return new Uint8Array();
  if (body instanceof Uint8Array) return body;
  if (typeof body === "string") return new TextEncoder().encode(body);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of body) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    chunks.push(bytes);
    length += bytes.byteLength;
  }
  if (chunks.length === 1) return chunks[0];
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole;
}

/**
 * The next page's token when the answer names it before its first key (S3, MinIO and the
 * emulators do), read without reading the page: the caller may send the next request while this
 * page is read. Only a hint: the caller must check it against the page's own token.
 */
export function headToken(xml: string): string | undefined {
  const root = ROOT.exec(xml);
  if (!root) return undefined;
  const first = xml.indexOf("<Contents>", root[0].length);
  const text = element(
    xml,
    "NextContinuationToken",
    root[0].length,
    first < 0 ? xml.length : first,
  );
  return text === undefined ? undefined : decodeText(text) ?? undefined;
}

/**
 * Reads `command`'s successful answers with {@linkcode parseListObjectsV2} before the SDK does,
 * and tells `onNextToken` the next page's token as soon as the answer is in ({@linkcode headToken}).
 * Returns a getter for after `send`: the page read here, or undefined when the SDK read it (an
 * answer this reader does not fully recognise), in which case the SDK's output has it.
 *
 * Placed next to the HTTP handler (inside the SDK's deserializer and its retries), it sees each
 * attempt's raw answer; a page it read reaches the SDK's parser as an empty one.
 */
export function withFastListing(
  command: ListObjectsV2Command,
  onNextToken?: (token: string) => void,
): () => ParsedListing | undefined {
  let parsed: ParsedListing | undefined;
  command.middlewareStack.addRelativeTo(
    ((next: (args: unknown) => Promise<{ response: unknown }>) => async (args: unknown) => {
      parsed = undefined;
      const result = await next(args);
      const response = result.response as { statusCode?: number; body?: Body };
      const status = response?.statusCode ?? 0;
      if (status < 200 || status >= 300) return result;
      const bytes = await bytesOf(response.body);
      const pieces = decodePieces(bytes);
      if (onNextToken) {
        const token = headToken(pieces[0]);
        if (token) onNextToken(token);
      }
      const page = parseListObjectsV2(pieces);
      response.body = page ? READ_ALREADY : bytes;
      parsed = page ?? undefined;
      return result;
    }) as unknown as SdkMiddleware, // the deserialize step's shape, which the SDK types by step
    {
      relation: "after",
      toMiddleware: "deserializerMiddleware",
      name: "fastListingReader",
      override: true,
    },
  );
  return () => parsed;
}
