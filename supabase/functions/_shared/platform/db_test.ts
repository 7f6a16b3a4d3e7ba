import assert from "node:assert/strict";
import { connectionOptions, databaseUrl, MAX_CONNECTIONS, sslFor, tlsModeFor } from "./db.ts";

const DIRECT = "postgresql://postgres:pw@db.abcdefghijklmnopqrst.supabase.co:5432/postgres";
const POOLER =
  "postgresql://postgres.abcdefghijklmnopqrst:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres";

Deno.test("connectionOptions() keeps at most 2 connections per isolate, closes idle ones and never prepares", () => {
  for (const url of [DIRECT, POOLER, "postgresql://postgres@127.0.0.1:54322/postgres"]) {
    const options = connectionOptions(url);
    assert.equal(options.max, MAX_CONNECTIONS);
    assert.ok(options.max <= 2);
    assert.equal(options.prepare, false, url);
    assert.ok(options.idle_timeout > 0 && options.idle_timeout <= 60);
  }
});

Deno.test("sslFor() requires TLS for Supabase's direct host and pooler", () => {
  assert.equal(sslFor(DIRECT), "require");
  assert.equal(sslFor(POOLER), "require");
  assert.equal(tlsModeFor(DIRECT), "require");
  assert.equal(tlsModeFor(POOLER), "require");
  assert.equal(sslFor("postgres://u:p@10.0.0.5/db"), "require", "a private address is a network");
  assert.equal(sslFor("postgresql://u:p@[2600:1f18::1]:5432/postgres"), "require");
});

Deno.test("sslFor() leaves loopback, sockets and an explicit sslmode alone", () => {
  for (
    const url of [
      "postgresql://postgres@127.0.0.1:54322/postgres",
      "postgresql://postgres@localhost/postgres",
      "postgresql://postgres@[::1]:5432/postgres",
      "postgresql://postgres@db.example.com/postgres?sslmode=disable",
      "postgresql://postgres@db.example.com/postgres?sslmode=verify-full",
      "postgresql://postgres@/postgres?host=/var/run/postgresql",
    ]
  ) {
    assert.equal(sslFor(url), undefined, url);
  }
});

Deno.test("databaseUrl() prefers DB_POOLER_URL and falls back to SUPABASE_DB_URL", () => {
  assert.equal(databaseUrl({ SUPABASE_DB_URL: DIRECT, DB_POOLER_URL: POOLER }), POOLER);
  assert.equal(databaseUrl({ SUPABASE_DB_URL: DIRECT }), DIRECT);
  assert.equal(databaseUrl({ SUPABASE_DB_URL: DIRECT, DB_POOLER_URL: "" }), DIRECT);
});

Deno.test("tlsModeFor() reads an explicit sslmode as libpq does, and never falls back to plaintext by accident", () => {
  const at = (query: string) => tlsModeFor(`postgresql://postgres@db.example.com/postgres${query}`);
  assert.equal(at("?sslmode=disable"), "off");
  assert.equal(at("?sslmode=prefer"), "prefer");
  assert.equal(at("?sslmode=allow"), "prefer");
  assert.equal(at("?sslmode=require"), "require");
  assert.equal(at("?sslmode=verify-ca"), "verify");
  assert.equal(at("?sslmode=verify-full"), "verify");
  assert.equal(at("?sslmode=nonsense"), "require");
  assert.equal(at(""), "require", "a network host without sslmode");
  assert.equal(tlsModeFor("postgresql://postgres@127.0.0.1:54322/postgres"), "off");
  assert.equal(tlsModeFor("postgresql://postgres@/postgres?host=/var/run/postgresql"), "off");
});

Deno.test("connectionOptions() leaves TLS to its own socket (postgres.js must not wrap it twice)", () => {
  for (const url of [DIRECT, POOLER, "postgresql://postgres@127.0.0.1:54322/postgres"]) {
    const options = connectionOptions(url);
    assert.equal(options.ssl, false, url);
    assert.equal(typeof options.socket, "function", url);
  }
});
