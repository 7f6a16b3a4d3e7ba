/**
 * Fault proxies for the isolated test stack: the functions reach S3 and Postgres through them,
 * tests keep direct access to the real ones and steer the proxies over a small HTTP control
 * endpoint. They exist so integration tests can show what a user sees when the storage or the
 * database misbehaves, without a mock standing in for either.
 *
 * - {@linkcode startS3FaultProxy}: HTTP-aware. Each request is matched against fault rules by
 *   operation (`list`, `put`, `copy`, `get`, `head`, `delete`, `bucket`) and key prefix, and is
 *   answered with an S3 error (`503 SlowDown`, `500 InternalError`, …), has its connection
 *   dropped, is delayed, is held until released, or is forwarded without some of its headers.
 * - {@linkcode startTcpFaultProxy}: plain TCP (Postgres). It can refuse new connections and cut
 *   the open ones ("the database goes away"), and come back.
 * - {@linkcode startFaultControl}: the control endpoint for both (see its JSDoc for the routes).
 *
 * The S3 proxy can also play a bucket across a network: under a latency profile
 * (latency_profile.ts, `S3_LATENCY`) every request waits its operation's delay and may be
 * answered `503 SlowDown`, as real S3 does. The stack puts it in front of S3 for that too.
 *
 * Why the S3 proxy forces `Connection: close` on every request: with one request per
 * connection, every request passes the rule check (a kept-alive connection would otherwise
 * carry later requests past it), and the proxy never has to parse response framing. On
 * loopback the extra connections cost little; the stack only puts the proxies in place for the
 * integration tier, or when a latency profile is asked for (off by default).
 *
 * @module
 */

import {
  describeLatencyProfile,
  formatLatencyProfile,
  LATENCY_CLASSES,
  type LatencyClass,
  type LatencyDecision,
  latencyPlanner,
  type LatencyProfile,
  parseLatencyProfile,
} from "./latency_profile.ts";

/** What an S3 request does, as the fault rules name it. */
export type S3Operation = "list" | "put" | "copy" | "get" | "head" | "delete" | "bucket";

const S3_OPERATIONS: readonly S3Operation[] = [
  "list",
  "put",
  "copy",
  "get",
  "head",
  "delete",
  "bucket",
];

/** A fault the S3 proxy applies to matching requests. */
export interface S3FaultRule {
  /** Only requests doing this; any when absent. */
  operation?: S3Operation;
  /** Only requests on keys starting with this (path-style `/<bucket>/<key>`). */
  keyPrefix?: string;
  /** Answer with this HTTP status and an S3 XML error instead of forwarding. */
  status?: number;
  /** The S3 error code of that answer. Default `SlowDown` for 503, else `InternalError`. */
  code?: string;
  /** Drop the connection without answering (the client sees a reset). */
  reset?: boolean;
  /** Wait this long first (then answer, drop or forward). */
  delayMs?: number;
  /** Hold the request until `release` is called, then go on (forward unless told otherwise). */
  hold?: boolean;
  /**
   * Forward the request without these headers (names, any case), e.g.
   * `x-amz-copy-source-if-match` to play a store that ignores a copy's condition.
   */
  dropHeaders?: string[];
  /** Let this many matching requests through untouched before the rule starts. Default 0. */
  after?: number;
  /** How many requests the rule affects. */
  remaining: number;
}

/** A rule as the proxy reports it: how often it fired, and how many requests it holds now. */
export type S3FaultState = S3FaultRule & { after: number; hits: number; held: number };

/** Address of the service a proxy forwards to. */
export interface Upstream {
  hostname: string;
  port: number;
}

/** The S3 fault proxy. */
export interface S3FaultProxy {
  /** Base URL of the proxy (what the functions get as `S3_ENDPOINT`). */
  readonly url: string;
  readonly port: number;
  /** The rules, in the order they are checked. */
  faults(): S3FaultState[];
  /** Requests seen, by operation (faulted ones included). */
  requests(): Record<S3Operation, number>;
  addFault(rule: S3FaultRule): void;
  /** Removes every rule and lets held requests go on. */
  clearFaults(): void;
  /** Lets every held request go on; returns how many there were. */
  release(): number;
  /** The latency profile in force and what it did since it was set. */
  latency(): S3LatencyState;
  /** Puts a latency profile in force (its random sequence starts over); `undefined`: none. */
  setLatency(profile: LatencyProfile | undefined): void;
  stop(): Promise<void>;
}

/** A proxy's latency profile as it reports it. */
export interface S3LatencyState {
  /** As `S3_LATENCY` syntax (`off` when none). */
  spec: string;
  /** In words (`aws (list 100 ms, …)`). */
  description: string;
  profile?: LatencyProfile;
  /** Requests delayed, by class. */
  delayed: Record<LatencyClass, number>;
  /** Requests answered `503 SlowDown` by the profile (not by fault rules). */
  slowDowns: number;
}

/** The latency class of a fault-rule operation: copies wait as PUTs, bucket requests as other. */
export function latencyClassOf(operation: S3Operation): LatencyClass {
  switch (operation) {
    case "copy":
      return "put";
    case "bucket":
      return "other";
    default:
      return operation;
  }
}

/** The TCP (Postgres) fault proxy. */
export interface TcpFaultProxy {
  readonly port: number;
  /** `refusing`: new connections are closed at once; `open`: connections being relayed. */
  state(): { refusing: boolean; open: number; accepted: number; refused: number };
  /** Refuses new connections; with `cut` (default true) also drops the open ones. */
  goDown(options?: { cut?: boolean }): void;
  /** Accepts connections again. */
  comeBack(): void;
  /** Drops every open connection (new ones are still accepted unless down). */
  cut(): number;
  stop(): Promise<void>;
}

const MAX_HEAD_BYTES = 64 * 1024;
/** A faulted request's body is read and dropped up to this size, so the client sees our answer. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;
const HEAD_END = new Uint8Array([13, 10, 13, 10]);
const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();

/** The parsed head of one HTTP/1.1 request. */
export interface RequestHead {
  method: string;
  target: string;
  version: string;
  /** Header lines as sent (name, value), in order. */
  headers: Array<[string, string]>;
}

/** Parses a request head (without the blank line), or null when it is not HTTP/1.x. */
export function parseRequestHead(text: string): RequestHead | null {
  const [requestLine, ...lines] = text.split("\r\n");
  const match = /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/.exec(requestLine);
  if (!match) return null;
  const headers: Array<[string, string]> = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 1) return null;
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { method: match[1], target: match[2], version: match[3], headers };
}

function header(head: RequestHead, name: string): string | undefined {
  return head.headers.find(([key]) => key.toLowerCase() === name)?.[1];
}

/**
 * What a path-style S3 request does, and on which key.
 *
 * @example
 * ```ts
 * classifyS3Request("GET", "/bucket?list-type=2", {}); // { operation: "list" }
 * classifyS3Request("PUT", "/bucket/a.jpg", { "x-amz-copy-source": "/bucket/b" });
 * // { operation: "copy", key: "a.jpg" }
 * ```
 */
export function classifyS3Request(
  method: string,
  target: string,
  headers: Record<string, string | undefined>,
): { operation: S3Operation; key?: string } {
  const path = target.split("?")[0];
  let segments: string[];
  try {
    segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return { operation: "bucket" };
  }
  if (segments.length < 2) {
    return { operation: method === "GET" && segments.length === 1 ? "list" : "bucket" };
  }
  const key = segments.slice(1).join("/");
  switch (method) {
    case "PUT":
      return { operation: headers["x-amz-copy-source"] ? "copy" : "put", key };
    case "POST": // multipart upload steps
      return { operation: "put", key };
    case "GET":
      return { operation: "get", key };
    case "HEAD":
      return { operation: "head", key };
    case "DELETE":
      return { operation: "delete", key };
    default:
      return { operation: "bucket", key };
  }
}

/** Checks a rule sent to the control endpoint; returns the problem, if any. */
export function s3FaultProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "A fault must be a JSON object";
  }
  const rule = value as Record<string, unknown>;
  const known = [
    "operation",
    "keyPrefix",
    "status",
    "code",
    "reset",
    "delayMs",
    "hold",
    "dropHeaders",
    "after",
    "remaining",
  ];
  const unknown = Object.keys(rule).filter((key) => !known.includes(key));
  if (unknown.length) return `Unknown field(s): ${unknown.join(", ")}`;
  const count = (key: string, min: number) =>
    rule[key] === undefined || (Number.isInteger(rule[key]) && (rule[key] as number) >= min);
  if (!Number.isInteger(rule.remaining) || (rule.remaining as number) < 1) {
    return "remaining must be a positive integer";
  }
  if (!count("after", 0) || !count("delayMs", 0)) {
    return "after and delayMs must be non-negative integers";
  }
  if (rule.status !== undefined && !(count("status", 400) && (rule.status as number) <= 599)) {
    return "status must be an HTTP error status (400-599)";
  }
  if (rule.operation !== undefined && !S3_OPERATIONS.includes(rule.operation as S3Operation)) {
    return `operation must be one of ${S3_OPERATIONS.join(", ")}`;
  }
  for (const key of ["keyPrefix", "code"]) {
    if (rule[key] !== undefined && typeof rule[key] !== "string") return `${key} must be a string`;
  }
  for (const key of ["reset", "hold"]) {
    if (rule[key] !== undefined && typeof rule[key] !== "boolean") {
      return `${key} must be a boolean`;
    }
  }
  if (
    rule.dropHeaders !== undefined &&
    !(Array.isArray(rule.dropHeaders) &&
      rule.dropHeaders.every((name) => typeof name === "string" && /^[\w-]+$/.test(name)))
  ) return "dropHeaders must be a list of header names";
  if (
    rule.status === undefined && !rule.reset && !rule.hold && rule.delayMs === undefined &&
    !(rule.dropHeaders as unknown[] | undefined)?.length
  ) return "A fault needs status, reset, hold, delayMs or dropHeaders";
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function joinBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** Copies `from` to `to` until `from` ends or either breaks. */
async function relay(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) return;
      await writeAll(to, buffer.subarray(0, n));
    }
  } catch { /* a side closed: the exchange is over */ }
}

/** Reads until the end of the request head; null when the client went away or sent no HTTP. */
async function readHead(conn: Deno.Conn): Promise<{ head: RequestHead; rest: Uint8Array } | null> {
  let buffered: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(16 * 1024);
  while (buffered.length <= MAX_HEAD_BYTES) {
    const end = indexOfBytes(buffered, HEAD_END, Math.max(0, buffered.length - chunk.length - 3));
    if (end >= 0) {
      const head = parseRequestHead(latin1.decode(buffered.subarray(0, end)));
      return head ? { head, rest: buffered.slice(end + 4) } : null;
    }
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) return null;
    buffered = joinBytes(buffered, chunk.subarray(0, n));
  }
  return null;
}

/**
 * Reads and drops the request body before we answer and close: a client still writing into a
 * closed socket may see a reset instead of our answer (Node's http client can), and the test
 * asked for an answer, not a reset.
 */
async function drainBody(conn: Deno.Conn, head: RequestHead, rest: Uint8Array): Promise<void> {
  if (header(head, "expect")?.toLowerCase() === "100-continue") return; // the body never comes
  const chunk = new Uint8Array(64 * 1024);
  const length = Number(header(head, "content-length") ?? 0);
  if (Number.isSafeInteger(length) && length > 0) {
    let left = Math.min(length, MAX_DRAIN_BYTES) - rest.length;
    while (left > 0) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) return;
      left -= n;
    }
    return;
  }
  if (header(head, "transfer-encoding")?.toLowerCase().includes("chunked")) {
    // The last chunk of a body without trailers ends with "0\r\n\r\n".
    let tail = latin1.decode(rest.slice(-5));
    let read = rest.length;
    while (!tail.endsWith("0\r\n\r\n") && read < MAX_DRAIN_BYTES) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) return;
      read += n;
      tail = (tail + latin1.decode(chunk.subarray(0, n))).slice(-5);
    }
  }
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** An S3-style XML error response with `Connection: close`. */
export function s3ErrorResponse(
  status: number,
  code: string,
  method = "GET",
  options: { message?: string; reason?: string } = {},
): Uint8Array {
  const message = options.message ?? "Injected fault (fault proxy)";
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
  const bytes = encoder.encode(body);
  const reason = options.reason ?? REASONS[status] ?? "Error";
  const head = `HTTP/1.1 ${status} ${reason}\r\n` +
    "content-type: application/xml\r\n" +
    `content-length: ${bytes.length}\r\n` +
    "x-amz-request-id: fault-proxy\r\n" +
    "connection: close\r\n\r\n";
  return method === "HEAD" ? encoder.encode(head) : joinBytes(encoder.encode(head), bytes);
}

/**
 * The head to forward: as received, without `dropHeaders`, and asking the server to close after
 * answering.
 */
function forwardedHead(head: RequestHead, dropHeaders: string[] = []): Uint8Array {
  const hopByHop = [
    "connection",
    "keep-alive",
    "proxy-connection",
    ...dropHeaders.map((name) => name.toLowerCase()),
  ];
  const lines = [`${head.method} ${head.target} ${head.version}`];
  for (const [name, value] of head.headers) {
    if (!hopByHop.includes(name.toLowerCase())) lines.push(`${name}: ${value}`);
  }
  lines.push("connection: close", "", "");
  return encoder.encode(lines.join("\r\n"));
}

/** Accepts connections until the listener closes, handing each to `handle`. */
function acceptLoop(listener: Deno.Listener, handle: (conn: Deno.Conn) => void): Promise<void> {
  return (async () => {
    try {
      for await (const conn of listener) handle(conn);
    } catch { /* the listener was closed */ }
  })();
}

/** Options for {@linkcode startS3FaultProxy}. */
export interface S3FaultProxyOptions {
  /** The real S3 endpoint. */
  upstream: Upstream;
  /** Port on 127.0.0.1. Default: any free port. */
  port?: number;
  /** A latency profile in force from the start. Default: none. */
  latency?: LatencyProfile;
  /** How the proxy waits out a delay (tests pass one that records instead). Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** The body size a request announces (for its transfer time), 0 when it announces none. */
function announcedBodyBytes(headers: Record<string, string>): number {
  // SigV4 streaming uploads announce the payload's size apart from their chunk framing.
  const value = Number(headers["x-amz-decoded-content-length"] ?? headers["content-length"] ?? 0);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

const timerSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Starts an S3 proxy on 127.0.0.1 that forwards every request to `upstream` unless a fault rule
 * matches it. Rules are checked in order: the first one whose `after` is spent fires (and uses
 * up one of its `remaining`); a request no rule fires on counts against every matching rule's
 * `after` (so `after: 1` means "from the second matching request on").
 *
 * @example
 * ```ts
 * const proxy = startS3FaultProxy({ upstream: { hostname: "127.0.0.1", port: 9000 } });
 * proxy.addFault({ operation: "list", status: 503, after: 1, remaining: 2 });
 * ```
 */
export function startS3FaultProxy(options: S3FaultProxyOptions): S3FaultProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: options.port ?? 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let rules: S3FaultState[] = [];
  const counts = Object.fromEntries(S3_OPERATIONS.map((op) => [op, 0])) as Record<
    S3Operation,
    number
  >;
  const sleep = options.sleep ?? timerSleep;
  let latencyProfile: LatencyProfile | undefined;
  let plan: ((kind: LatencyClass, bodyBytes?: number) => LatencyDecision) | undefined;
  let delayed: Record<LatencyClass, number>;
  let slowDowns = 0;
  const setLatency = (profile: LatencyProfile | undefined) => {
    latencyProfile = profile;
    plan = profile ? latencyPlanner(profile) : undefined;
    delayed = Object.fromEntries(LATENCY_CLASSES.map((kind) => [kind, 0])) as typeof delayed;
    slowDowns = 0;
  };
  setLatency(options.latency);
  const waiting = new Set<() => void>();
  const open = new Set<Deno.Conn>();
  const inFlight = new Set<Promise<void>>();

  const release = () => {
    const count = waiting.size;
    for (const resume of [...waiting]) resume();
    waiting.clear();
    return count;
  };

  /** The rule that fires on this request, if any (see the function's JSDoc). */
  const pick = (operation: S3Operation, key: string | undefined) => {
    const matching = rules.filter((rule) =>
      rule.remaining > 0 && (!rule.operation || rule.operation === operation) &&
      (!rule.keyPrefix || (key ?? "").startsWith(rule.keyPrefix))
    );
    const rule = matching.find((candidate) => candidate.after <= 0);
    if (!rule) {
      for (const candidate of matching) candidate.after -= 1;
      return undefined;
    }
    rule.remaining -= 1;
    rule.hits += 1;
    return rule;
  };

  async function serve(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn | undefined;
    try {
      const request = await readHead(client);
      if (!request) return;
      const { head, rest } = request;
      const lowered = Object.fromEntries(head.headers.map(([k, v]) => [k.toLowerCase(), v]));
      const { operation, key } = classifyS3Request(head.method, head.target, lowered);
      counts[operation] += 1;
      const rule = pick(operation, key);
      // The profile's wait comes first: real S3 takes its time whatever it answers.
      const kind = latencyClassOf(operation);
      const decision = plan?.(kind, kind === "put" ? announcedBodyBytes(lowered) : 0);
      if (decision) {
        delayed[kind] += 1;
        if (decision.delayMs > 0) await sleep(decision.delayMs);
      }
      if (rule?.delayMs) await new Promise((resolve) => setTimeout(resolve, rule.delayMs));
      if (rule?.hold) {
        rule.held += 1;
        await new Promise<void>((resume) => waiting.add(resume));
        rule.held -= 1;
      }
      if (rule?.reset) return; // closing with the body unread resets the connection
      if (rule?.status) {
        await drainBody(client, head, rest);
        const code = rule.code ?? (rule.status === 503 ? "SlowDown" : "InternalError");
        await writeAll(client, s3ErrorResponse(rule.status, code, head.method));
        return;
      }
      if (!rule && decision?.slowDown) {
        slowDowns += 1;
        await drainBody(client, head, rest);
        // Real S3's answer: `503 Slow Down`, no Retry-After; the SDK backs off on its own.
        await writeAll(
          client,
          s3ErrorResponse(503, "SlowDown", head.method, {
            message: "Please reduce your request rate.",
            reason: "Slow Down",
          }),
        );
        return;
      }
      try {
        upstream = await Deno.connect(options.upstream);
      } catch {
        return; // S3 unreachable: the client sees the connection drop, as it would
      }
      open.add(upstream);
      await writeAll(upstream, joinBytes(forwardedHead(head, rule?.dropHeaders), rest));
      // The answer ends when the server closes (we asked it to); the client's side may stay
      // open, so only the server's end finishes the exchange.
      relay(client, upstream);
      await relay(upstream, client);
    } catch {
      /* either side went away */
    } finally {
      if (upstream) {
        open.delete(upstream);
        closeQuietly(upstream);
      }
      open.delete(client);
      closeQuietly(client);
    }
  }

  const accepting = acceptLoop(listener, (conn) => {
    open.add(conn);
    const done = serve(conn);
    inFlight.add(done);
    done.finally(() => inFlight.delete(done));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    faults: () => rules.map((rule) => ({ ...rule })),
    requests: () => ({ ...counts }),
    addFault(rule) {
      const problem = s3FaultProblem(rule);
      if (problem) throw new TypeError(`Invalid S3 fault: ${problem}`);
      rules.push({ ...rule, after: rule.after ?? 0, hits: 0, held: 0 });
    },
    clearFaults() {
      rules = [];
      release();
    },
    release,
    latency: () => ({
      spec: formatLatencyProfile(latencyProfile),
      description: describeLatencyProfile(latencyProfile),
      ...(latencyProfile ? { profile: structuredClone(latencyProfile) } : {}),
      delayed: { ...delayed },
      slowDowns,
    }),
    setLatency,
    async stop() {
      listener.close();
      release();
      for (const conn of open) closeQuietly(conn);
      await accepting;
      await Promise.all([...inFlight]);
    },
  };
}

/** Options for {@linkcode startTcpFaultProxy}. */
export interface TcpFaultProxyOptions {
  upstream: Upstream;
  /** Port on 127.0.0.1. Default: any free port. */
  port?: number;
}

/**
 * Starts a TCP relay on 127.0.0.1 to `upstream` (Postgres) that can play "the database went
 * away": while down it accepts and at once closes new connections (clients see the connection
 * closed, as when a server is restarting), and {@linkcode TcpFaultProxy.cut} drops the open ones
 * mid-session.
 */
export function startTcpFaultProxy(options: TcpFaultProxyOptions): TcpFaultProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: options.port ?? 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let refusing = false;
  let accepted = 0;
  let refused = 0;
  const pairs = new Set<[Deno.Conn, Deno.Conn]>();
  const inFlight = new Set<Promise<void>>();

  async function serve(client: Deno.Conn): Promise<void> {
    let server: Deno.Conn;
    try {
      server = await Deno.connect(options.upstream);
    } catch {
      closeQuietly(client);
      return;
    }
    const pair: [Deno.Conn, Deno.Conn] = [client, server];
    pairs.add(pair);
    // Whichever side ends first ends the session, as a dropped link would.
    await Promise.race([relay(client, server), relay(server, client)]);
    pairs.delete(pair);
    closeQuietly(client);
    closeQuietly(server);
  }

  const cut = () => {
    const count = pairs.size;
    for (const [client, server] of pairs) {
      closeQuietly(client);
      closeQuietly(server);
    }
    pairs.clear();
    return count;
  };

  const accepting = acceptLoop(listener, (conn) => {
    if (refusing) {
      refused += 1;
      closeQuietly(conn);
      return;
    }
    accepted += 1;
    const done = serve(conn);
    inFlight.add(done);
    done.finally(() => inFlight.delete(done));
  });

  return {
    port,
    state: () => ({ refusing, open: pairs.size, accepted, refused }),
    goDown({ cut: cutOpen = true } = {}) {
      refusing = true;
      if (cutOpen) cut();
    },
    comeBack() {
      refusing = false;
    },
    cut,
    async stop() {
      listener.close();
      cut();
      await accepting;
      await Promise.all([...inFlight]);
    },
  };
}

/** A running control endpoint. */
export interface FaultControl {
  readonly url: string;
  stop(): Promise<void>;
}

const jsonResponse = (body: unknown, status = 200) => Response.json(body, { status });
const badRequest = (message: string) =>
  jsonResponse({ error: { code: "validation_failed", message } }, 400);

/**
 * Serves the control endpoint on 127.0.0.1 (JSON in and out):
 *
 * - `GET /s3/faults` → `{ faults, requests }`; `POST /s3/faults` adds a rule
 *   ({@linkcode S3FaultRule}); `DELETE /s3/faults` removes all (held requests go on);
 *   `POST /s3/release` lets held requests go on.
 * - `GET /s3/latency` → the latency profile in force and what it did
 *   ({@linkcode S3LatencyState}); `PUT /s3/latency` with `{ "spec": "aws,list=5" }` puts one in
 *   force (`S3_LATENCY` syntax; a bad one is a 400 naming the mistake); `DELETE /s3/latency`
 *   turns it off.
 * - `GET /db` → `{ refusing, open, accepted, refused }`; `POST /db/down` (`{ "cut": false }` to
 *   keep open connections), `POST /db/up`, `POST /db/cut`.
 */
export function startFaultControl(
  proxies: { s3?: S3FaultProxy; db?: TcpFaultProxy },
  options: { port?: number } = {},
): FaultControl {
  const { s3, db } = proxies;
  const route = async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    const { method } = request;
    if (s3 && pathname === "/s3/faults") {
      if (method === "POST") {
        const rule = await request.json().catch(() => undefined);
        const problem = s3FaultProblem(rule);
        if (problem) return badRequest(`Invalid S3 fault: ${problem}`);
        s3.addFault(rule as S3FaultRule);
      } else if (method === "DELETE") s3.clearFaults();
      return jsonResponse({ faults: s3.faults(), requests: s3.requests() });
    }
    if (s3 && pathname === "/s3/release" && method === "POST") {
      return jsonResponse({ released: s3.release() });
    }
    if (s3 && pathname === "/s3/latency") {
      if (method === "PUT") {
        const body = await request.json().catch(() => undefined);
        if (typeof body?.spec !== "string") {
          return badRequest('A latency profile is sent as { "spec": "<S3_LATENCY value>" }');
        }
        try {
          s3.setLatency(parseLatencyProfile(body.spec));
        } catch (error) {
          return badRequest(error instanceof Error ? error.message : String(error));
        }
      } else if (method === "DELETE") s3.setLatency(undefined);
      return jsonResponse(s3.latency());
    }
    if (db && pathname === "/db" && method === "GET") return jsonResponse(db.state());
    if (db && pathname === "/db/down" && method === "POST") {
      const body = await request.json().catch(() => ({}));
      db.goDown({ cut: body?.cut !== false });
      return jsonResponse(db.state());
    }
    if (db && pathname === "/db/up" && method === "POST") {
      db.comeBack();
      return jsonResponse(db.state());
    }
    if (db && pathname === "/db/cut" && method === "POST") {
      return jsonResponse({ cut: db.cut(), ...db.state() });
    }
    return jsonResponse(
      { error: { code: "not_found", message: `No control route ${method} ${pathname}` } },
      404,
    );
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    route,
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    stop: () => server.shutdown(),
  };
}

/** The proxies the isolated stack puts in front of S3 and Postgres, and their control. */
export interface StackFaultProxies {
  /** What the functions get as `S3_ENDPOINT`. */
  s3Endpoint: string;
  /** What the functions get as `SUPABASE_DB_URL`. */
  dbUrl: string;
  /** The control endpoint (`FAULTS_URL` in the stack's info). */
  controlUrl: string;
  stop(): Promise<void>;
}

function upstreamOf(url: URL): Upstream {
  return { hostname: url.hostname, port: Number(url.port) };
}

/**
 * Starts an S3 proxy in front of `s3Endpoint` (under `latency` when given), a TCP proxy in front
 * of `dbUrl`'s host and port, and their control endpoint; returns the URLs to hand the functions
 * instead.
 */
export function startStackFaultProxies(
  targets: { s3Endpoint: string; dbUrl: string; latency?: LatencyProfile },
): StackFaultProxies {
  const s3Url = new URL(targets.s3Endpoint);
  const dbUrl = new URL(targets.dbUrl);
  const s3 = startS3FaultProxy({ upstream: upstreamOf(s3Url), latency: targets.latency });
  const db = startTcpFaultProxy({ upstream: upstreamOf(dbUrl) });
  const control = startFaultControl({ s3, db });
  const proxiedDb = new URL(targets.dbUrl);
  proxiedDb.hostname = "127.0.0.1";
  proxiedDb.port = String(db.port);
  return {
    s3Endpoint: s3.url,
    dbUrl: proxiedDb.toString(),
    controlUrl: control.url,
    async stop() {
      await control.stop();
      await Promise.all([s3.stop(), db.stop()]);
    },
  };
}

/**
 * Starts an S3 proxy in front of `s3Endpoint` that only applies `latency` (the stack's
 * `S3_LATENCY` without fault proxies, and the benchmarks); `url` is what clients use instead.
 */
export function startS3LatencyProxy(
  s3Endpoint: string,
  latency: LatencyProfile,
): S3FaultProxy {
  return startS3FaultProxy({ upstream: upstreamOf(new URL(s3Endpoint)), latency });
}
