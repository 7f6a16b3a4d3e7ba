import assert from "node:assert/strict";
import {
  dbErrorKind,
  describeDbFailure,
  fromPostgresError,
  isLostJobError,
  isTransientDbError,
} from "./db_errors.ts";
import { StartupRefusedError } from "./db_socket.ts";

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

Deno.test("dbErrorKind() tells connection trouble from a lost job and from bad input", () => {
  for (
    const code of ["ECONNREFUSED", "CONNECTION_ENDED", "57P01", "08006", "08001", "40P01", "55P03"]
  ) {
    assert.ok(isTransientDbError(pgError(code)), code);
  }
  for (const code of ["40001", "55000", "P0002"]) {
    assert.ok(isLostJobError(pgError(code)), code);
    assert.ok(!isTransientDbError(pgError(code)), code);
  }
  assert.equal(dbErrorKind(pgError("22023")), "invalid");
  assert.equal(dbErrorKind(pgError("42883")), undefined);
  assert.equal(dbErrorKind(new Error("no code")), undefined);
});

Deno.test("fromPostgresError() answers each kind with the status a caller can act on", () => {
  const status = (code: string) => fromPostgresError(pgError(code))?.status;
  assert.equal(status("08006"), 503);
  assert.equal(status("22023"), 400);
  assert.equal(status("23505"), 409);
  assert.equal(status("55000"), 409);
  assert.equal(status("P0002"), 404);
  assert.equal(status("42501"), 403);
  assert.equal(status("42883"), undefined, "unknown errors stay 500s without internals");
});

Deno.test("a database closed to new connections is 503, not a lost job, and not retried", () => {
  // The transport reports a refusal before the connection was ready as its own error type.
  const closed = new StartupRefusedError(
    "55000",
    'database "postgres" is not currently accepting connections',
    "FATAL",
  );
  assert.equal(dbErrorKind(closed), "unavailable");
  assert.ok(!isTransientDbError(closed), "retrying a closed database only makes callers wait");
  assert.equal(fromPostgresError(closed)?.status, 503);
  assert.ok(isLostJobError(pgError("55000")), "the SQL API's own 55000 still means a lost job");
  const sameText = Object.assign(
    new Error('database "postgres" is not currently accepting connections'),
    {
      code: "55000",
    },
  );
  assert.ok(isLostJobError(sameText), "the message text decides nothing");
});

Deno.test("describeDbFailure() names the SQLSTATE and the setting, never a URL", () => {
  assert.match(describeDbFailure(pgError("28P01")), /refused our login \(28P01\).*SUPABASE_DB_URL/);
  assert.equal(describeDbFailure(pgError("3D000")), "the database does not exist (3D000)");
  assert.equal(
    describeDbFailure(new StartupRefusedError("55000", "closed", "FATAL")),
    "the database is not accepting connections (55000)",
  );
  assert.equal(
    describeDbFailure(pgError("ECONNREFUSED")),
    "the database is unreachable (ECONNREFUSED)",
  );
  assert.equal(
    describeDbFailure(new Error("postgresql://u:secret@h/db")),
    "the database is unreachable",
  );
});
