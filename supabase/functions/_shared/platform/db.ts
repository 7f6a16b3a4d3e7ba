/**
 * The database client both functions share: postgres.js, sized for hosted Supabase and created
 * lazily so a request that never touches the database never connects.
 *
 * Hosted facts this follows: `SUPABASE_DB_URL` is a direct, unpooled connection, and a small
 * instance allows ~60 connections for everything (Auth, Storage, the pooler, every isolate of
 * every function). So each isolate keeps at most 2 connections and closes them when idle; an
 * operator who expects many concurrent isolates sets `DB_POOLER_URL` to Supavisor's transaction
 * mode URL (port 6543), which is then used instead. Transaction mode keeps no prepared statements
 * across transactions, hence `prepare: false` everywhere.
 *
 * @module
 */
import postgres from "postgres";
import { socketFactory, type TlsMode } from "./db_socket.ts";

/** A postgres.js client. */
export type Sql = postgres.Sql;

/** Where the functions connect: the pooler when configured, else the injected direct URL. */
export interface DbSettings {
  SUPABASE_DB_URL: string;
  /** Supavisor transaction mode (`…pooler.supabase.com:6543/postgres`); optional. */
  DB_POOLER_URL?: string;
}

/** Connections per isolate; two lets a status read overlap a slice's write. */
export const MAX_CONNECTIONS = 2;

/**
 * Sizes and counts are `bigint` in SQL; postgres.js would hand them over as strings. Every value
 * we store (bytes of an image, rows of an index) is far below 2^53, so plain numbers are exact.
 */
const INT8_AS_NUMBER = {
  to: 20,
  from: [20],
  serialize: (value: number) => String(value),
  parse: (value: string) => Number(value),
};

const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

/** The URL to connect to: `DB_POOLER_URL` when set, else `SUPABASE_DB_URL`. */
export function databaseUrl(settings: DbSettings): string {
  return settings.DB_POOLER_URL || settings.SUPABASE_DB_URL;
}

/** The query parameters of a connection URL (`new URL` cannot read every form postgres.js takes). */
function queryOf(url: string): URLSearchParams {
  return new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "");
}

/**
 * The default TLS choice for `url` (undefined when the URL has its own `sslmode`, see
 * {@linkcode tlsModeFor}): `"require"` for any host but loopback or a Unix socket. Supabase's
 * direct host and pooler both accept TLS, and credentials must never cross a network in the clear.
 */
export function sslFor(url: string): "require" | undefined {
  const query = queryOf(url);
  if (query.has("sslmode") || query.has("ssl")) return undefined;
  if (query.get("host")?.startsWith("/")) return undefined; // a Unix socket
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "require"; // unparseable here means postgres.js decides the host; fail safe
  }
  const host = decodeURIComponent(parsed.hostname).toLowerCase();
  if (host === "" || host.startsWith("/") || LOOPBACK.has(host)) return undefined;
  return "require";
}

/** Seconds before reconnect attempt `retries` (1, 2, …): 0.1, 0.2, 0.4, 0.8, then 1, jittered. */
export function reconnectDelaySeconds(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);
}

/**
 * The TLS mode for `url`: an explicit `sslmode` (or `ssl`) in the URL wins, read as libpq reads
 * it; otherwise {@linkcode sslFor}'s choice.
 */
export function tlsModeFor(url: string): TlsMode {
  const query = queryOf(url);
  const explicit = (query.get("sslmode") ?? query.get("ssl"))?.toLowerCase();
  switch (explicit) {
    case undefined:
      return sslFor(url) === "require" ? "require" : "off";
    case "disable":
    case "false":
      return "off";
    case "allow":
    case "prefer":
      return "prefer";
    case "verify-ca":
    case "verify-full":
      return "verify";
    default: // require, true, and anything unknown: encrypted, never silently plaintext
      return "require";
  }
}

/** The postgres.js options the shared client is created with, for `url`. */
export function connectionOptions(url: string) {
  return {
    // Supavisor in transaction mode cannot keep prepared statements across transactions.
    prepare: false,
    max: MAX_CONNECTIONS,
    // Seconds. An isolate idles between requests; an idle connection would hold one of the
    // instance's few slots for nothing.
    idle_timeout: 20,
    connect_timeout: 10,
    // Seconds before reconnecting after a failed connection. postgres.js grows this to 20 s,
    // which a waiting request sits through; a request would rather fail fast (503) and let the
    // caller retry, so at most ~1 s, still far from a reconnect storm.
    backoff: reconnectDelaySeconds,
    // Recycle long-lived connections so a pooler or failover never pins a stale one.
    max_lifetime: 60 * 10,
    // TCP and TLS are opened by db_socket.ts (so a server ending a connection fails what waits
    // on it instead of hanging it); postgres.js speaks the protocol over that socket.
    ssl: false,
    socket: socketFactory(tlsModeFor(url)),
    onnotice: () => {},
    connection: { application_name: "s3-image-cache" },
    types: { int8AsNumber: INT8_AS_NUMBER },
  };
}

/**
 * A client from the settings (pooler first) or a URL. Each call makes a new pool of
 * {@linkcode MAX_CONNECTIONS}: a function's composition root makes one and hands it on.
 *
 * @example
 * ```ts
 * const sql = createDb(parseConfig(Deno.env.toObject())); // DB_POOLER_URL when set
 * await sql.end({ timeout: 5 }); // when done (tests, shutdown)
 * ```
 */
export function createDb(target: string | DbSettings): Sql {
  const url = typeof target === "string" ? target : databaseUrl(target);
  return postgres(url, connectionOptions(url));
}
