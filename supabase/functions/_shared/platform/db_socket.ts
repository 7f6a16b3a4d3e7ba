/**
 * The TCP connection under every database connection, with one correction to postgres.js.
 *
 * postgres.js (3.4.9, the latest) treats a server closing the connection cleanly as something
 * to retry in silence. While a query waits for that connection to be set up, it reconnects at
 * once, forever: the query never settles (the request hangs until the platform kills it) and the
 * isolate opens hundreds of connections a second (measured here: 300–800/s against a local
 * Postgres). Two ways in, both seen in our tests:
 *
 * - a server that accepts and closes without a word, as a restarting pooler or load balancer
 *   does (porsager/postgres#1193);
 * - a server that refuses with a FATAL error (say, "database is not currently accepting
 *   connections") on a connection object whose previous socket died mid-query: postgres.js
 *   still holds that old query, files the FATAL under it, and never fails the new one.
 *
 * A reset connection (an `error` event) has neither problem: postgres.js fails everything that
 * waits on the connection. So a clean close is announced as an error too, in the same tick and
 * just before postgres.js sees the close: by then it has read every byte the server sent (any
 * error message included), and nothing can be queued on the dead connection in between. Over
 * TLS, postgres.js reads through its own TLS socket and may close that one first; the
 * client's reconnect backoff (db.ts) still keeps such a loop slow.
 *
 * @module
 */
import net from "node:net";

/** What postgres.js hands its `socket` option: the parsed hosts, ports and Unix socket path. */
export interface SocketTarget {
  host: string[];
  port: number[];
  path?: string | false;
}

/** The error a clean close becomes: transient, as a reset connection is (db_errors.ts). */
export class ServerClosedError extends Error {
  readonly code = "ECONNRESET";
  constructor() {
    super("The database server closed the connection");
    this.name = "ServerClosedError";
  }
}

let orphansIgnored = false;

/**
 * postgres.js also fails its own internal query (the array-type lookup it runs on each new
 * connection) with this error when the connection closes under it, and nothing awaits that
 * promise; an unhandled rejection would take the whole isolate down with every request in it.
 * Those orphans, and only errors of ours, are dropped here.
 */
function ignoreOrphanedCloseErrors(): void {
  if (orphansIgnored) return;
  orphansIgnored = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (event.reason instanceof ServerClosedError) event.preventDefault();
  });
}

/**
 * Opens the connection postgres.js asked for (its `socket` option: it then speaks the protocol,
 * TLS included, over this socket) and reports a clean close as an error first.
 */
export function connectSocket(target: SocketTarget): net.Socket {
  ignoreOrphanedCloseErrors();
  const socket = target.path
    ? net.connect(target.path)
    : net.connect(target.port[0], target.host[0]);
  // Prepended, so it runs before postgres.js's own `close` listener (added after we return).
  socket.prependListener("close", (hadError: boolean) => {
    if (!hadError) socket.emit("error", new ServerClosedError());
  });
  return socket;
}
