/**
 * The functions' database client over TLS, as on hosted Supabase (whose direct host and pooler
 * are reached with TLS): db_socket.ts negotiates TLS itself, so these tests turn TLS on in the
 * stack's Postgres (a throwaway self-signed certificate) and connect with the very options the
 * functions use.
 *
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { connectionOptions } from "../../supabase/functions/_shared/platform/db.ts";
import { run } from "../../scripts/stack/process.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";
import { errorWithin } from "../support/settle.ts";

/** A self-signed certificate for localhost, readable by the cluster's user. */
async function makeCertificate(): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "s3-image-cache-tls-" });
  const cert = `${dir}/server.crt`;
  const key = `${dir}/server.key`;
  await run([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    "/CN=localhost",
    "-days",
    "1",
  ]);
  await Deno.chmod(key, 0o600);
  if (Deno.uid() === 0) {
    // As root the cluster runs as `postgres` (scripts/stack/postgres.ts), which must own its key.
    const { stdout } = await run(["id", "-u", "postgres"]);
    const uid = Number(stdout.trim());
    for (const path of [dir, cert, key]) await Deno.chown(path, uid, null);
  }
  return { cert, key };
}

/** The stack's database URL with `sslmode`. */
function urlWith(sslmode: string): string {
  const url = new URL(stackInfo().DB_URL);
  url.searchParams.set("sslmode", sslmode);
  return url.toString();
}

Deno.test("db over TLS: the functions' client encrypts with sslmode=require, refuses an unverifiable certificate with verify-full, and fails fast when the database refuses connections", async () => {
  const admin = testDb();
  const { cert, key } = await makeCertificate();
  await admin.unsafe(`alter system set ssl_cert_file = '${cert}'`);
  await admin.unsafe(`alter system set ssl_key_file = '${key}'`);
  await admin.unsafe(`alter system set ssl = on`);
  await admin`select pg_reload_conf()`;
  await admin`create database tls_probe`;
  const probeUrl = (sslmode: string) => urlWith(sslmode).replace(/\/postgres\?/, "/tls_probe?");
  try {
    const secure = postgres(urlWith("require"), connectionOptions(urlWith("require")));
    try {
      const [row] = await secure`select ssl from pg_stat_ssl where pid = pg_backend_pid()`;
      assert.equal(row.ssl, true, "the connection is encrypted");
      const [array] = await secure`select ${["a", "b"]}::text[] as names`;
      assert.deepEqual(array.names, ["a", "b"], "the protocol works over our TLS socket");
    } finally {
      await secure.end({ timeout: 5 });
    }

    const checked = postgres(urlWith("verify-full"), connectionOptions(urlWith("verify-full")));
    try {
      const error = await errorWithin(checked`select 1`, 10_000);
      assert.match(error.message, /certificate|self.signed/i, error.message);
    } finally {
      await checked.end({ timeout: 0 });
    }

    // Closed to new connections after a connection died mid-session: the case postgres.js
    // alone turns into a hang and a reconnect storm (db_socket.ts).
    const client = postgres(probeUrl("require"), connectionOptions(probeUrl("require")));
    try {
      await client`select 1`;
      await admin.unsafe(`alter database tls_probe with allow_connections false`);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = 'tls_probe'`;
      const started = Date.now();
      for (let i = 0; i < 3; i++) await errorWithin(client`select 1`, 5_000);
      assert.ok(Date.now() - started < 15_000);
      await admin.unsafe(`alter database tls_probe with allow_connections true`);
      // The very next query works: no error from the refusals is left over to fail it.
      const answer = await client`select 42 as n`.then((rows) => rows[0].n, (error) => error);
      assert.equal(answer, 42, `the same client works again at once: ${answer}`);
    } finally {
      await client.end({ timeout: 0 });
    }
  } finally {
    await admin.unsafe(`alter database tls_probe with allow_connections true`).catch(() => {});
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = 'tls_probe'`;
    await admin`drop database if exists tls_probe`;
    await admin.unsafe(`alter system reset ssl`);
    await admin.unsafe(`alter system reset ssl_cert_file`);
    await admin.unsafe(`alter system reset ssl_key_file`);
    await admin`select pg_reload_conf()`;
    await closeTestDb();
  }
});

Deno.test("db: a query cancelled through the functions' transport stops on the server (57014) and the pool works on", async () => {
  const url = stackInfo().DB_URL;
  const sql = postgres(url, connectionOptions(url));
  try {
    const slow = sql`select pg_sleep(30)`;
    const outcome = slow.then(() => "finished", (error) => error.code);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await slow.cancel(); // its own connection, which the server closes without a word
    assert.equal(await outcome, "57014");
    const [row] = await sql`select 1 as n`;
    assert.equal(row.n, 1, "the pool works on");
  } finally {
    await sql.end({ timeout: 5 });
  }
});
