/**
 * A `multipart/form-data` parser (RFC 7578) over a body already in memory. Parts are views into
 * that one buffer — no part is copied — so an upload costs about its own size in memory, where
 * `Request.formData()` holds the body, then a Blob copy, then the bytes read back from it.
 *
 * @module
 */
import { ERRORS } from "../_shared/errors.ts";
import { needleFinder } from "./sniffing/simd/byte_scan.ts";

/** A file part: its bytes are a view into the request body. */
export interface FilePart {
  /** The client's file name (`filename=` or `filename*=` of Content-Disposition). */
  filename: string;
  /** The part's declared Content-Type, if any (never trusted for the content). */
  contentType?: string;
  bytes: Uint8Array;
}

/** A parsed form: text fields and file parts by field name. */
export interface MultipartForm {
  fields: Map<string, string>;
  files: Map<string, FilePart>;
}

/** Options for {@linkcode parseMultipart}. */
export interface ParseMultipartOptions {
  /** Most parts accepted. Default 16. */
  maxParts?: number;
  /** Longest header block of one part, in bytes. Default 8 KiB. */
  maxHeaderBytes?: number;
}

/**
 * The boundary of a `multipart/form-data` Content-Type, or `undefined` when the type is
 * something else.
 *
 * @example
 * ```ts
 * multipartBoundary("multipart/form-data; boundary=xyz"); // "xyz"
 * ```
 */
export function multipartBoundary(contentType: string | null): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType.trim())) return undefined;
  const match = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  return boundary && BOUNDARY.test(boundary) ? boundary : undefined;
}

/** RFC 2046 `bchars`, 1 to 70 of them, not ending in a space: never a CR or LF. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

const encoder = new TextEncoder();
// A field's leading BOM is kept, so a name that starts with one is refused (zero-width), as the
// JSON routes and the SQL API refuse it, instead of being silently stored without it.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;

/**
 * Parses `body` with `boundary`. A field name repeated is refused (one file per upload).
 *
 * @throws AppError 400 `bad_request` for a malformed body.
 *
 * @example
 * ```ts
 * const form = parseMultipart(body, multipartBoundary(request.headers.get("content-type"))!);
 * const file = form.files.get("file");
 * ```
 */
export function parseMultipart(
  body: Uint8Array,
  boundary: string,
  options: ParseMultipartOptions = {},
): MultipartForm {
  const { maxParts = 16, maxHeaderBytes = 8192 } = options;
  const bad = (detail: string) =>
    ERRORS.BadRequest(`The upload is not valid multipart/form-data: ${detail}`);
  const delimiter = encoder.encode(`--${boundary}`);
  const nextDelimiter = encoder.encode(`\r\n--${boundary}`);
  const form: MultipartForm = { fields: new Map(), files: new Map() };

  let at = indexOfBytes(body, delimiter, 0);
  if (at === -1) throw bad("no boundary found");
  at += delimiter.length;
  for (let parts = 0;; parts++) {
    if (body[at] === DASH && body[at + 1] === DASH) return form; // closing delimiter
    // Transport padding (spaces/tabs) may follow a delimiter before its CRLF.
    while (body[at] === 0x20 || body[at] === 0x09) at++;
    if (body[at] !== CR || body[at + 1] !== LF) throw bad("a boundary is not followed by CRLF");
    if (parts >= maxParts) throw bad(`more than ${maxParts} parts`);
    at += 2;
    const headerEnd = indexOfBytes(body, encoder.encode("\r\n\r\n"), at, at + maxHeaderBytes);
    let headers: Map<string, string>;
    let contentStart: number;
    if (body[at] === CR && body[at + 1] === LF) { // a part without headers
      headers = new Map();
      contentStart = at + 2;
    } else {
      if (headerEnd === -1) throw bad("a part's headers do not end");
      headers = parseHeaders(decoder.decode(body.subarray(at, headerEnd)));
      contentStart = headerEnd + 4;
    }
    const contentEnd = indexOfBytes(body, nextDelimiter, contentStart);
    if (contentEnd === -1) throw bad("the body ends before its closing boundary");
    addPart(form, headers, body.subarray(contentStart, contentEnd), bad);
    at = contentEnd + nextDelimiter.length;
  }
}

function addPart(
  form: MultipartForm,
  headers: Map<string, string>,
  content: Uint8Array,
  bad: (detail: string) => Error,
): void {
  const disposition = headers.get("content-disposition");
  if (!disposition || !/^form-data\b/i.test(disposition.trim())) {
    throw bad("a part has no Content-Disposition: form-data header");
  }
  const params = dispositionParams(disposition);
  const name = params.get("name");
  if (name === undefined) throw bad("a part has no field name");
  if (form.fields.has(name) || form.files.has(name)) {
    throw bad(`the field "${name}" is sent more than once`);
  }
  const filename = params.get("filename*") ?? params.get("filename");
  if (filename !== undefined) {
    form.files.set(name, { filename, contentType: headers.get("content-type"), bytes: content });
  } else {
    form.fields.set(name, decoder.decode(content));
  }
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
  }
  return headers;
}

/**
 * Content-Disposition parameters. Quoted values are unescaped the way browsers escape them
 * (`%22`, `%0D`, `%0A`, WHATWG HTML); `filename*=UTF-8''…` (RFC 5987) is percent-decoded.
 */
export function dispositionParams(disposition: string): Map<string, string> {
  const params = new Map<string, string>();
  const pattern = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (const match of disposition.matchAll(pattern)) {
    const key = match[1].toLowerCase();
    if (params.has(key)) continue;
    let value: string;
    if (match[2] !== undefined) {
      value = match[2].replace(/\\(.)/g, "$1")
        .replace(/%22/g, '"').replace(/%0D/gi, "\r").replace(/%0A/gi, "\n");
    } else {
      value = match[3].trim();
    }
    if (key.endsWith("*")) {
      const extended = /^([\w-]*)'[^']*'(.*)$/.exec(value);
      if (!extended) continue;
      try {
        value = decodeURIComponent(extended[2]);
      } catch {
        continue;
      }
    }
    params.set(key, value);
  }
  return params;
}

/** Needles at least this long are searched with skips (Horspool); shorter ones byte by byte. */
const SKIP_SEARCH_MIN = 8;

/**
 * The first index of `needle` in `haystack` at or after `from` (and before `until`), or -1.
 * The delimiter between parts (`CRLF--boundary`, ~40 bytes) is searched 16 bytes a step in
 * WebAssembly (sniffing/simd/byte_scan.ts: ~0.05 ms in a 1 MiB image); other long needles, and
 * every needle where WebAssembly SIMD is missing, with Horspool's skips: ~1 byte in 40 looked at
 * (~0.25 ms), where stopping at every CR (one in 256 bytes of compressed data) costs 0.6 ms.
 */
export function indexOfBytes(
  haystack: Uint8Array,
  needle: Uint8Array,
  from: number,
  until = haystack.length,
): number {
  const end = Math.min(until, haystack.length);
  if (needle.length >= SKIP_SEARCH_MIN) {
    const simd = needleFinder(needle);
    return simd ? simd(haystack, from, end) : horspool(haystack, needle, from, end);
  }
  const first = needle[0];
  const last = end - needle.length;
  for (let at = haystack.indexOf(first, from); at !== -1 && at <= last;) {
    let i = 1;
    while (i < needle.length && haystack[at + i] === needle[i]) i++;
    if (i === needle.length) return at;
    at = haystack.indexOf(first, at + 1);
  }
  return -1;
}

/** Horspool's search; exported as the reference the WebAssembly search is tested against. */
export function horspool(
  haystack: Uint8Array,
  needle: Uint8Array,
  from: number,
  end: number,
): number {
  const m = needle.length;
  const skip = new Uint8Array(256).fill(Math.min(m, 255));
  for (let i = 0; i < m - 1; i++) skip[needle[i]] = Math.min(m - 1 - i, 255);
  const first = needle[0];
  const lastByte = needle[m - 1];
  for (let at = from; at + m <= end;) {
    const tail = haystack[at + m - 1];
    if (tail === lastByte) {
      // Left to right: a delimiter holds its one CR at the start, so a partial match never
      // overlaps the next candidate and each byte is compared at most once more.
      let i = 0;
      while (i < m - 1 && haystack[at + i] === needle[i]) i++;
      if (i === m - 1) return at;
      // A match can only start at the needle's first byte (CR): jump to the next one with the
      // runtime's native scan. Without this, 10 MiB of "a" under a boundary of 70 "a"s moves
      // one byte at a time (every tail matches); with it, the whole body is one scan.
      const next = haystack.indexOf(first, at + 1);
      if (next === -1) return -1;
      at = Math.max(at + skip[tail], next);
    } else {
      at += skip[tail];
    }
  }
  return -1;
}
