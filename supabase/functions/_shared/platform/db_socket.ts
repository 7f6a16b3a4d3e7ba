/**
 * The transport under every database connection: TCP, TLS when asked, and two corrections to
 * postgres.js, which then speaks the protocol over the socket handed to it (its `socket` option).
 *
 * postgres.js (3.4.9, the latest) mishandles a connection the server ends while a query waits
 * for it, in two ways both seen in our tests:
 *
 * - A clean close (no error event) makes it reconnect at once, forever: the waiting query never
 *   settles, so the request hangs until the platform kills it, and the isolate opens hundreds of
 *   connections a second (measured here: 300–800/s). A restarting pooler or load balancer closes
 *   exactly like that (porsager/postgres#1193).
 * - A refusal during start-up (a FATAL error such as "database is not currently accepting
 *   connections", seen when a database restarts or is closed to connections) is filed under the
 *   last query of the connection's previous socket when that one died mid-query; the waiting
 *   query then hangs as above, and the stale error fails an unrelated query on the next good
 *   connection.
 *
 * So here a clean close is reported as an error (`ServerClosedError`), and an error the server
 * sends before the connection is ready is turned into a socket error carrying its SQLSTATE and
 * message, never handed to postgres.js as protocol. A socket error is the one case postgres.js
 * handles well: it fails what waits and reconnects with backoff. Both corrections need to see
 * the plaintext stream, which is why TLS is negotiated here too, rather than inside postgres.js.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";

/** What postgres.js hands its `socket` option: the parsed hosts, ports and Unix socket path. */
export interface SocketTarget {
  host: string[];
  port: number[];
  path?: string | false;
}

/**
 * TLS for a connection, as libpq's `sslmode` names it: `off` (disable), `prefer` (TLS if the
 * server offers it), `require` (TLS, certificate unchecked, as postgres.js and libpq do),
 * `verify` (verify-ca / verify-full: the certificate must chain to a trusted CA and name the
 * host).
 */
export type TlsMode = "off" | "prefer" | "require" | "verify";

/** The error a clean close becomes: transient, as a reset connection is (db_errors.ts). */
export class ServerClosedError extends Error {
  readonly code = "ECONNRESET";
  constructor() {
    super("The database server closed the connection");
    this.name = "ServerClosedError";
  }
}

/** An error the server sent before the connection was ready, with its SQLSTATE. */
export class StartupRefusedError extends Error {
  constructor(readonly code: string, message: string, readonly severity: string) {
    super(message);
    this.name = "StartupRefusedError";
  }
}

/** The SSLRequest message: length 8, code 80877103. */
const SSL_REQUEST = new Uint8Array([0, 0, 0, 8, 4, 210, 22, 47]);

let orphansIgnored = false;

/**
 * postgres.js also fails its own internal query (the array-type lookup it runs on each new
 * connection) with these errors when the connection dies under it, and nothing awaits that
 * promise; an unhandled rejection would take the whole isolate down with every request in it.
 * Those orphans, and only errors of ours, are dropped here.
 */
function ignoreOrphanedErrors(): void {
  if (orphansIgnored) return;
  orphansIgnored = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason;
    if (reason instanceof ServerClosedError || reason instanceof StartupRefusedError) {
      event.preventDefault();
    }
  });
}

/** How long TLS negotiation may take (postgres.js's own connect timer starts only after it). */
const TLS_TIMEOUT_MS = 10_000;

/**
 * The `socket` option for postgres.js (with its own `ssl: false`): opens TCP (or the Unix
 * socket), negotiates TLS per `mode`, and guards the result.
 *
 * It never rejects: postgres.js leaves a pool slot stuck in "connecting" forever when its socket
 * factory throws, so a failure is handed over as a socket that errors and closes, which
 * postgres.js handles like a refused connection.
 */
export function socketFactory(mode: TlsMode): (target: SocketTarget) => Promise<net.Socket> {
  return async (target) => {
    ignoreOrphanedErrors();
    const host = target.host[0];
    const raw = target.path ? net.connect(target.path) : net.connect(target.port[0], host);
    if (mode === "off") return guard(raw);
    try {
      return guard(await negotiateTls(raw, host, mode));
    } catch (error) {
      raw.destroy();
      return failedSocket(error as Error);
    }
  };
}

/** A socket that errors with `error` and closes, once postgres.js listens to it. */
function failedSocket(error: Error): net.Socket {
  const socket = new net.Socket();
  // postgres.js writes its start-up message at once; on this never-connected socket that write
  // would fail first, as "socket closed", and hide the real error.
  socket.write = () => true;
  setTimeout(() => socket.destroy(error), 0);
  return socket;
}

/** Sends SSLRequest; on `S` wraps the socket in TLS, on `N` goes on in plaintext or refuses. */
async function negotiateTls(raw: net.Socket, host: string, mode: TlsMode): Promise<net.Socket> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(Object.assign(new Error("TLS negotiation with the database timed out"), {
        code: "CONNECT_TIMEOUT",
      }));
    }, TLS_TIMEOUT_MS);
  });
  try {
    return await Promise.race([handshake(raw, host, mode), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function handshake(raw: net.Socket, host: string, mode: TlsMode): Promise<net.Socket> {
  const answer = await new Promise<number>((resolve, reject) => {
    raw.once("data", (chunk: Uint8Array) => {
      raw.pause();
      resolve(chunk[0]);
    });
    raw.once("error", reject);
    raw.once("end", () => reject(new ServerClosedError()));
    // After `connect`: a write before it fails as "socket closed" and hides ECONNREFUSED.
    raw.once("connect", () => raw.write(SSL_REQUEST));
  });
  raw.removeAllListeners("error");
  raw.removeAllListeners("end");
  if (answer !== 0x53 /* S */) {
    if (mode === "prefer") {
      raw.resume();
      return raw;
    }
    throw Object.assign(new Error("The database server does not offer TLS"), { code: "ESSL" });
  }
  return await new Promise<net.Socket>((resolve, reject) => {
    const secure = tls.connect({
      socket: raw,
      servername: net.isIP(host) ? undefined : host,
      rejectUnauthorized: mode === "verify",
    });
    secure.once("secureConnect", () => {
      secure.off("error", reject);
      resolve(secure);
    });
    secure.once("error", reject);
  });
}

/** Both corrections of the module's JSDoc, on the socket postgres.js will read. */
function guard<S extends net.Socket>(socket: S): S {
  const startup = new StartupScanner();
  const emit = socket.emit as (event: string | symbol, ...args: unknown[]) => boolean;
  // Only `data` during start-up is looked at; from the first ReadyForQuery on, bytes pass
  // untouched.
  socket.emit = function (this: S, event: string | symbol, ...args: unknown[]): boolean {
    if (event === "data" && !startup.ready) {
      const refusal = startup.scan(args[0] as Uint8Array);
      if (refusal) {
        socket.destroy(refusal);
        return true;
      }
    }
    return emit.call(this, event, ...args);
  } as S["emit"];
  // Prepended, so it runs before postgres.js's own `close` listener (added after we return).
  socket.prependListener("close", (hadError: boolean) => {
    if (!hadError) socket.emit("error", new ServerClosedError());
  });
  return socket;
}

/**
 * Reads backend messages until ReadyForQuery (`Z`): the connection is then ready. An
 * ErrorResponse (`E`) before that is returned as a {@linkcode StartupRefusedError}.
 */
export class StartupScanner {
  ready = false;
  private pending = new Uint8Array(0);

  /** Feeds one chunk; returns the refusal it completes, if any. */
  scan(chunk: Uint8Array): StartupRefusedError | undefined {
    const bytes = new Uint8Array(this.pending.length + chunk.length);
    bytes.set(this.pending);
    bytes.set(chunk, this.pending.length);
    let offset = 0;
    while (bytes.length - offset >= 5) {
      const type = bytes[offset];
      const length = new DataView(bytes.buffer, offset + 1, 4).getInt32(0);
      if (length < 4) return new StartupRefusedError("08P01", "Malformed startup reply", "FATAL");
      if (bytes.length - offset < 1 + length) break;
      if (type === 0x45 /* E */) return parseError(bytes.subarray(offset + 5, offset + 1 + length));
      offset += 1 + length;
      if (type === 0x5a /* Z */) {
        this.ready = true;
        this.pending = new Uint8Array(0);
        return undefined;
      }
    }
    this.pending = bytes.slice(offset);
    return undefined;
  }
}

/** An ErrorResponse body: fields of a type byte and a NUL-terminated string, then a NUL. */
function parseError(body: Uint8Array): StartupRefusedError {
  const fields: Record<string, string> = {};
  const decoder = new TextDecoder();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const type = String.fromCharCode(body[offset]);
    const end = body.indexOf(0, offset + 1);
    if (end < 0) break;
    fields[type] = decoder.decode(body.subarray(offset + 1, end));
    offset = end + 1;
  }
  return new StartupRefusedError(
    fields.C ?? "08006",
    fields.M ?? "The database server refused the connection",
    fields.S ?? "FATAL",
  );
}
