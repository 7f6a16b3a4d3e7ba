/**
 * The two ways postgres.js 3.4.9 hangs a query and storms the server with reconnects, against a
 * tiny scripted server speaking just enough of the Postgres protocol; through the options the
 * functions really use (db.ts), each query must fail promptly and the server see a handful of
 * connections, not thousands.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { connectionOptions, reconnectDelaySeconds } from "./db.ts";
import { errorWithin } from "../../../../tests/support/settle.ts";
import { dbErrorKind, isTransientDbError } from "./db_errors.ts";
import { StartupRefusedError, StartupScanner } from "./db_socket.ts";

const encoder = new TextEncoder();

/** One backend message: type byte, int32 length (itself included), body. */
function message(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

const AUTHENTICATION_OK = message("R", new Uint8Array(4));
const READY_FOR_QUERY = message("Z", encoder.encode("I"));
const NOT_ACCEPTING = message(
  "E",
  encoder.encode(
    'SFATAL\0VFATAL\0C55000\0Mdatabase "app" is not currently accepting connections\0\0',
  ),
);

/** What the scripted server does with each new connection. */
type Script = (connection: number) => "close-at-once" | "refuse" | "die-on-first-query";

/** A loopback server following `script`; counts the connections it accepted. */
function scriptedServer(script: Script) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const step = script(++accepted);
      (async () => {
        const buffer = new Uint8Array(64 * 1024);
        try {
          if (step === "close-at-once") return;
          await conn.read(buffer); // the startup message
          if (step === "refuse") return void await conn.write(NOT_ACCEPTING);
          await conn.write(new Uint8Array([...AUTHENTICATION_OK, ...READY_FOR_QUERY]));
          await conn.read(buffer); // the first query: the backend dies before answering
        } catch {
          /* the client went away */
        } finally {
          conns.delete(conn);
          try {
            conn.close();
          } catch { /* already closed */ }
        }
      })();
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/app`,
    accepted: () => accepted,
    close() {
      listener.close();
      for (const conn of conns) conn.close();
    },
  };
}

Deno.test("db: a server that accepts and closes at once fails the query (transient), with no reconnect storm", async () => {
  const server = scriptedServer(() => "close-at-once");
  const sql = postgres(server.url, connectionOptions(server.url));
  try {
    for (let i = 0; i < 3; i++) {
      const error = await errorWithin(sql`select 1`, 5_000);
      assert.ok(isTransientDbError(error), String(error));
    }
    assert.ok(server.accepted() <= 6, `${server.accepted()} connections for 3 queries`);
  } finally {
    await sql.end({ timeout: 0 });
    server.close();
  }
});

Deno.test("db: a refusal after a connection died mid-query fails the next query instead of hanging it", async () => {
  // Connection 1 dies while postgres.js is still setting it up (its type query); every later
  // one is refused with a FATAL, as a database closed to new connections does.
  const server = scriptedServer((n) => n === 1 ? "die-on-first-query" : "refuse");
  const sql = postgres(server.url, connectionOptions(server.url));
  try {
    await errorWithin(sql`select 1`, 5_000);
    await errorWithin(sql`select 2`, 5_000);
    assert.ok(server.accepted() <= 8, `${server.accepted()} connections for 2 queries`);
  } finally {
    await sql.end({ timeout: 0 });
    server.close();
  }
});

Deno.test("db: reconnect delays stay between 50 ms and 1 s, growing with the failures", () => {
  for (let retries = 1; retries <= 20; retries++) {
    const seconds = reconnectDelaySeconds(retries);
    assert.ok(seconds >= 0.05 && seconds <= 1, `${retries}: ${seconds}`);
  }
  assert.ok(reconnectDelaySeconds(1) <= 0.1);
});

Deno.test("db: the start-up scanner finds ReadyForQuery and a refusal across chunk boundaries", () => {
  const ready = new StartupScanner();
  const reply = new Uint8Array([...AUTHENTICATION_OK, ...READY_FOR_QUERY]);
  for (const byte of reply.subarray(0, reply.length - 1)) {
    assert.equal(ready.scan(new Uint8Array([byte])), undefined);
    assert.equal(ready.ready, false);
  }
  assert.equal(ready.scan(reply.subarray(reply.length - 1)), undefined);
  assert.equal(ready.ready, true);

  const refused = new StartupScanner();
  assert.equal(refused.scan(AUTHENTICATION_OK.subarray(0, 3)), undefined);
  assert.equal(refused.scan(AUTHENTICATION_OK.subarray(3)), undefined);
  assert.equal(refused.scan(NOT_ACCEPTING.subarray(0, 20)), undefined);
  const error = refused.scan(NOT_ACCEPTING.subarray(20));
  assert.ok(error instanceof StartupRefusedError);
  assert.equal(error.code, "55000");
  assert.equal(error.severity, "FATAL");
  assert.match(error.message, /not currently accepting connections/);
  assert.equal(dbErrorKind(error), "unavailable", "db_errors.ts reads it as the database refusing");
});

Deno.test("db: with nothing listening, every query fails fast and the pool keeps working, with or without TLS", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // the port is now closed: connections are refused
  for (const sslmode of ["disable", "require"]) {
    const url = `postgresql://postgres@127.0.0.1:${port}/app?sslmode=${sslmode}`;
    const sql = postgres(url, connectionOptions(url));
    try {
      // More queries than pool slots: a slot lost to a failed connection would hang one.
      for (let i = 0; i < 4; i++) {
        const error = await errorWithin(sql`select 1`, 5_000);
        assert.ok(isTransientDbError(error), `${sslmode}: ${error}`);
      }
    } finally {
      await sql.end({ timeout: 0 });
    }
  }
});

Deno.test("db: a server that closes during TLS negotiation fails the query instead of hanging it", async () => {
  const server = scriptedServer(() => "close-at-once");
  const url = `${server.url}?sslmode=require`;
  const sql = postgres(url, connectionOptions(url));
  try {
    for (let i = 0; i < 3; i++) await errorWithin(sql`select 1`, 5_000);
    assert.ok(server.accepted() <= 6, `${server.accepted()} connections for 3 queries`);
  } finally {
    await sql.end({ timeout: 0 });
    server.close();
  }
});
