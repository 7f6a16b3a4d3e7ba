/**
 * The local functions host: what `supabase functions serve` does, without Docker.
 *
 * - `/functions/v1/<name>/…` goes to `supabase/functions/<name>/index.ts` (folders starting with
 *   `_` are shared code, not functions), each running in its own `deno serve` process with only
 *   the environment Supabase would give it.
 * - `verify_jwt` (default on) from `supabase/config.toml`, checked as the CLI's `functions serve`
 *   does (`gateway_jwt.ts`, on `jose` alone): HS256 tokens against the legacy JWT secret,
 *   ES256/RS256 against the project's JWKS; anything else (API keys, `alg: none`, a forged
 *   signature, an expired token) is 401. Our functions turn it off and verify every credential
 *   themselves, as Supabase advises for projects on signing keys and `sb_` API keys.
 * - `/auth/v1/…` goes to the local auth mirror (`auth_server.ts`) when one is given.
 * - CORS preflight (`OPTIONS`) goes to the function without a token check, as the CLI's gateway
 *   sends it; the function answers it and puts CORS headers on its responses itself. The host
 *   adds none to them (that would hide a response the browser cannot read), only to its own
 *   errors.
 * - A V8 heap limit per worker of 256 MiB (`memoryLimitMb`), as the edge runtime gives every
 *   user worker (`heap_limits(0, memoryLimitMb)`; the CLI's `functions serve` and hosted use
 *   256). Beyond keeping memory honest, it sizes V8's young generation as there: without it a
 *   worker on a 24 GiB machine gets a 4 GiB heap whose new space grows to 16 MiB semi-spaces,
 *   so the stand-in would show more memory than the platform, and never its limit.
 * - A wall-clock limit per request (Supabase: 150 s on Free), counted from the request's first
 *   byte, body included: a worker that overruns is killed and restarted, as the edge runtime
 *   recycles an isolate; a body that is still arriving when the time is up is answered 504 and
 *   the worker, which did nothing wrong, is kept.
 * - Request bodies: a limit (`maxBodyBytes`) enforced while the body streams through, never by
 *   holding it first. Only a caller whose credential the host can verify (a valid JWT, a known
 *   API key) has a body of known length up to 16 MiB read whole and sent on in one piece (the
 *   upload benchmark's fast path); everything else streams, so a caller without credentials
 *   makes the host hold a chunk, not a body. A `verify_jwt` function's 401 is answered before a
 *   byte of the body is read; ours have it off and answer without credentials themselves.
 *
 * Thin by intent: routing, JWT, env and limits. Everything else lives in the functions, and
 * nothing here comes from them: a stand-in that shared the product's code would agree with it.
 *
 * @module
 */
import { parse as parseToml } from "smol-toml";
import {
  bearerToken,
  createGatewayVerifier,
  type GatewayKeys,
  type GatewayVerifier,
} from "./gateway_jwt.ts";
import { freePort, httpAnswers, type Service, spawnService } from "./process.ts";
import { REPO_ROOT } from "./migrations.ts";
import type { AuthServer } from "./auth_server.ts";

const FUNCTIONS_DIR = `${REPO_ROOT}supabase/functions`;
/** The edge runtime's memory limit per user worker (CLI `functions serve` and hosted: 256 MB). */
const DEFAULT_MEMORY_LIMIT_MB = 256;
/** How long a request that failed at the worker waits for a crashing worker to be gone. */
const CRASH_SETTLE_MS = 2_000;
const DENO = `${REPO_ROOT}node_modules/.bin/deno`;

/** Options for {@linkcode startFunctionsHost}. */
export interface FunctionsHostOptions {
  port: number;
  /** The gateway's keys for `verify_jwt`: the legacy HS256 secret and the project's JWKS. */
  gatewayKeys: GatewayKeys;
  /** Serves `/auth/v1/…` on the same port, as Supabase's API gateway does. */
  auth?: AuthServer;
  /** The environment every function gets (Supabase's injected names plus the secrets). */
  functionEnv: Record<string, string>;
  /** Per-request wall-clock limit. Default 150 000 ms (Supabase Free). */
  wallClockMs?: number;
  /**
   * Each worker's V8 heap limit, young and old generations together (`--max-heap-size`, which
   * sizes them as the edge runtime's `heap_limits(0, limit)` does). Default 256 (Supabase).
   */
  memoryLimitMb?: number;
  /** Folder for the workers' logs; they inherit our output when absent. */
  logDir?: string;
  /**
   * Largest request body relayed, checked against `Content-Length` before reading and counted
   * while streaming (413 past it). Default 64 MiB: hosted documents no limit, and the functions
   * enforce their own (`MAX_UPLOAD_BYTES`); this only keeps the stand-in from relaying without
   * end.
   */
  maxBodyBytes?: number;
  /** Where the functions live. Default `supabase/functions` (tests use their own). */
  functionsDir?: string;
  /** The `config.toml` with `[functions.<name>] verify_jwt`. Default `supabase/config.toml`. */
  configPath?: string;
}

/** A running host. */
export interface FunctionsHost {
  url: string;
  functions: string[];
  stop(): Promise<void>;
}

/** The function folders: every `supabase/functions/<name>/index.ts` whose name has no leading `_`. */
export async function discoverFunctions(dir = FUNCTIONS_DIR): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory || entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
    try {
      await Deno.stat(`${dir}/${entry.name}/index.ts`);
      names.push(entry.name);
    } catch { /* a folder without index.ts is not a function */ }
  }
  return names.sort();
}

/** `verify_jwt` per function from `supabase/config.toml`; Supabase's default is on. */
export async function readVerifyJwt(
  names: string[],
  configPath = `${REPO_ROOT}supabase/config.toml`,
): Promise<Map<string, boolean>> {
  const parsed = parseToml(await Deno.readTextFile(configPath)) as {
    functions?: Record<string, { verify_jwt?: boolean }>;
  };
  return new Map(names.map((name) => [name, parsed.functions?.[name]?.verify_jwt ?? true]));
}

/** An error the host itself answers, readable by the admin UI on its other origin. */
function gatewayError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, {
    status,
    headers: { "access-control-allow-origin": "*" },
  });
}

/** Checks the bearer token the way Supabase's gateway does; returns a 401 response or null. */
export async function checkGatewayJwt(
  request: Request,
  verify: GatewayVerifier,
): Promise<Response | null> {
  const token = bearerToken(request);
  if (!token) {
    return gatewayError(401, "unauthorized", "Missing authorization header: send a bearer token");
  }
  switch (await verify(token)) {
    case "valid":
      return null;
    case "expired":
      return gatewayError(401, "token_expired", "The token has expired");
    default:
      return gatewayError(401, "invalid_token", "Invalid JWT");
  }
}

class Worker {
  #service?: Service;
  #starting?: Promise<Service>;
  port = 0;

  constructor(
    readonly name: string,
    readonly env: Record<string, string>,
    readonly logDir?: string,
    readonly functionsDir = FUNCTIONS_DIR,
    readonly memoryLimitMb = DEFAULT_MEMORY_LIMIT_MB,
  ) {}

  get pid(): number | undefined {
    return this.#service?.process.pid;
  }

  /** The running worker, (re)started when it is not alive. */
  async ensure(): Promise<Service> {
    if (this.#service && !this.#service.exited) return this.#service;
    this.#starting ??= this.#spawn().finally(() => (this.#starting = undefined));
    return await this.#starting;
  }

  async #spawn(): Promise<Service> {
    this.port = freePort();
    const env = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      ...this.env,
    };
    this.#service = await spawnService(`function ${this.name}`, [
      DENO,
      "serve",
      "--quiet",
      "--no-prompt",
      `--config=${REPO_ROOT}deno.json`,
      `--v8-flags=--max-heap-size=${this.memoryLimitMb}`,
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      "--allow-write=/tmp",
      "--host=127.0.0.1",
      `--port=${this.port}`,
      `${this.functionsDir}/${this.name}/index.ts`,
    ], {
      env,
      clearEnv: true,
      cwd: REPO_ROOT,
      ready: () => httpAnswers(`http://127.0.0.1:${this.port}/`),
      logFile: this.logDir ? `${this.logDir}/function-${this.name}.log` : undefined,
      timeoutMs: 60_000,
    });
    return this.#service;
  }

  /**
   * Waits up to `ms` for the worker to exit, after a request to it failed: a worker that crashed
   * (out of memory, say) resets its connections a moment before its process is gone, and the next
   * request must start a new one, not reach the dying one. A worker that is fine stays.
   */
  async settle(ms: number): Promise<void> {
    const service = this.#service;
    if (!service || service.exited) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      service.process.status.catch(() => {}),
      new Promise((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
  }

  /** Kills the worker at once (SIGKILL), like an isolate the runtime tears down. */
  async kill(): Promise<number | undefined> {
    const pid = this.pid;
    await this.#service?.stop(0);
    this.#service = undefined;
    return pid;
  }
}

/**
 * Bodies up to this size (with a Content-Length) from a caller with a verified credential are
 * read whole and sent on in one piece: relaying a stream costs a round trip through JavaScript
 * per chunk. Larger, chunked or unauthenticated bodies stream, so the gateway never holds more
 * than this per request, and a caller without credentials makes it hold none.
 */
const BUFFERED_BODY_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** The body was cut off at the host's limit. */
class BodyTooLarge extends Error {}

/**
 * Reads a body of `length` bytes into one buffer, giving up when `signal` aborts (the wall
 * clock) or more than `length` bytes come.
 */
async function readWhole(
  body: ReadableStream<Uint8Array>,
  length: number,
  signal: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = body.getReader();
  const stop = () => reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    const buffer = new Uint8Array(length);
    let offset = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (done) return buffer.subarray(0, offset);
      if (offset + value.byteLength > length) throw new BodyTooLarge();
      buffer.set(value, offset);
      offset += value.byteLength;
    }
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/** `body` counted on its way through: errors past `maxBytes`, tells when it ended. */
function meteredBody(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  state: { complete: boolean; tooLarge: boolean },
): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) {
          state.tooLarge = true;
          controller.error(new BodyTooLarge());
          return;
        }
        controller.enqueue(chunk);
      },
      flush() {
        state.complete = true;
      },
    }),
  );
}

/** Starts every function's worker and the gateway in front of them. */
export async function startFunctionsHost(options: FunctionsHostOptions): Promise<FunctionsHost> {
  const functionsDir = options.functionsDir ?? FUNCTIONS_DIR;
  const names = await discoverFunctions(functionsDir);
  const verify = await readVerifyJwt(names, options.configPath);
  const workers = new Map(
    names.map((
      name,
    ) => [
      name,
      new Worker(
        name,
        options.functionEnv,
        options.logDir,
        functionsDir,
        options.memoryLimitMb,
      ),
    ]),
  );
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  await Promise.all([...workers.values()].map((worker) => worker.ensure()));
  const wallClockMs = options.wallClockMs ?? 150_000;
  const verifier = createGatewayVerifier(options.gatewayKeys);
  // Host control takes a service credential: the legacy service_role key or a secret key.
  const serviceKeys = [
    options.functionEnv.SUPABASE_SERVICE_ROLE_KEY,
    ...Object.values(JSON.parse(options.functionEnv.SUPABASE_SECRET_KEYS ?? "{}") as object),
  ].filter((key): key is string => typeof key === "string" && key.length > 0);
  // Every key the project hands out: a caller presenting one is known, whatever it may do.
  const knownKeys = new Set([
    ...serviceKeys,
    options.functionEnv.SUPABASE_ANON_KEY,
    ...Object.values(JSON.parse(options.functionEnv.SUPABASE_PUBLISHABLE_KEYS ?? "{}") as object),
  ].filter((key): key is string => typeof key === "string" && key.length > 0));

  /** Whether the request carries a credential the host can verify (a known key, a valid JWT). */
  async function verifiedCaller(request: Request): Promise<boolean> {
    const apikey = request.headers.get("apikey");
    const token = bearerToken(request);
    if ((apikey && knownKeys.has(apikey)) || (token && knownKeys.has(token))) return true;
    return token !== undefined && (await verifier(token)) === "valid";
  }

  async function proxy(
    request: Request,
    worker: Worker,
    rest: string,
    call: { deadline: AbortSignal; verified: boolean },
  ): Promise<Response> {
    const { deadline } = call;
    const length = Number(request.headers.get("content-length") ?? 0);
    if (length > maxBodyBytes) return bodyTooLarge();
    await worker.ensure();
    const incoming = new URL(request.url);
    const target = `http://127.0.0.1:${worker.port}/${worker.name}${rest}${incoming.search}`;
    const headers = new Headers(request.headers);
    headers.delete("host");
    const body = { complete: request.body === null, tooLarge: false };
    try {
      let payload: BodyInit | null = null;
      if (request.body && call.verified && length > 0 && length <= BUFFERED_BODY_BYTES) {
        payload = await readWhole(request.body, length, deadline);
        body.complete = true;
      } else if (request.body && call.verified && length > 0) {
        // Sent on as it comes (Deno's server holds it to its Content-Length, within the limit
        // checked above). Not metered: piping it through a stream of ours left the upload
        // function's early 413 unanswered (hostile_upload_test, "Content-Length far above the
        // limit"); the wall clock then counts it as the function's time, as before.
        payload = request.body;
        body.complete = true;
      } else if (request.body) {
        payload = meteredBody(request.body, maxBodyBytes, body);
      }
      const response = await fetch(target, {
        method: request.method,
        headers,
        body: payload,
        redirect: "manual",
        signal: deadline,
      });
      return new Response(response.body, response);
    } catch (error) {
      if (error instanceof BodyTooLarge || body.tooLarge) return bodyTooLarge();
      if (deadline.aborted && !body.complete) {
        // The caller is slow, not the function: the worker is kept.
        return gatewayError(
          504,
          "request_timeout",
          `The request body did not arrive within ${wallClockMs / 1000} s`,
        );
      }
      if (deadline.aborted) {
        await worker.kill();
        return gatewayError(
          504,
          "function_timeout",
          `${worker.name} did not answer within ${wallClockMs / 1000} s and was stopped`,
        );
      }
      console.error(`functions host: ${worker.name} failed:`, error);
      await worker.settle(CRASH_SETTLE_MS);
      return gatewayError(502, "function_crashed", `${worker.name} stopped while answering`);
    }
  }

  function bodyTooLarge(): Response {
    return gatewayError(
      413,
      "payload_too_large",
      `The request body is larger than the ${maxBodyBytes} bytes this host relays`,
    );
  }

  /**
   * Test and operator hooks (service_role key only): `GET /_host/functions` lists the workers
   * and their pids, and the host's own (benchmarks and tests read their memory); `POST /_host/functions/<name>/kill` kills a
   * worker mid-flight, as a crashed isolate; it restarts on the next request.
   */
  async function hostControl(request: Request, path: string): Promise<Response> {
    const presented = [bearerToken(request), request.headers.get("apikey")];
    if (!presented.some((key) => key && serviceKeys.includes(key))) {
      return gatewayError(403, "forbidden", "Host control needs the service_role or a secret key");
    }
    if (path === "/_host/functions" && request.method === "GET") {
      return Response.json({
        host: { pid: Deno.pid },
        functions: [...workers.values()].map((w) => ({ name: w.name, pid: w.pid, port: w.port })),
      });
    }
    const match = /^\/_host\/functions\/([^/]+)\/kill$/.exec(path);
    const worker = match ? workers.get(match[1]) : undefined;
    if (!worker || request.method !== "POST") {
      return gatewayError(404, "not_found", "Unknown host control route");
    }
    return Response.json({ function: worker.name, killed: await worker.kill() });
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port, onListen: () => {} },
    async (request) => {
      // Supabase's wall clock runs from the request's first byte, the body's arrival included.
      const deadline = AbortSignal.timeout(wallClockMs);
      const path = new URL(request.url).pathname;
      if (path.startsWith("/_host/")) return await hostControl(request, path);
      if (options.auth && (path === "/auth/v1" || path.startsWith("/auth/v1/"))) {
        return await options.auth.handle(request);
      }
      const match = /^\/functions\/v1\/([^/]+)(\/.*)?$/.exec(path);
      if (!match) {
        return gatewayError(
          404,
          "not_found",
          `No route ${path}; functions live under /functions/v1/<name>`,
        );
      }
      const [, name, rest = ""] = match;
      const worker = workers.get(name);
      if (!worker) {
        return gatewayError(404, "function_not_found", `Function "${name}" does not exist`);
      }
      if (verify.get(name) && request.method !== "OPTIONS") {
        // Answered from the headers alone: not a byte of the body is read for a refusal.
        const refusal = await checkGatewayJwt(request, verifier);
        if (refusal) return refusal;
        return await proxy(request, worker, rest, { deadline, verified: true });
      }
      return await proxy(request, worker, rest, {
        deadline,
        verified: await verifiedCaller(request),
      });
    },
  );

  return {
    url: `http://127.0.0.1:${options.port}`,
    functions: names,
    async stop() {
      await server.shutdown();
      await Promise.all([...workers.values()].map((worker) => worker.kill()));
    },
  };
}
