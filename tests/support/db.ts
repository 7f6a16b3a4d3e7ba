/**
 * A database connection to the test stack's Postgres, for asserting on the index directly.
 *
 * @module
 */
import postgres from "postgres";
import { stackInfo } from "./stack.ts";

let sql: postgres.Sql | undefined;

/** The shared test connection (closed by {@linkcode closeTestDb}). */
export function testDb(): postgres.Sql {
  sql ??= postgres(stackInfo().DB_URL, { max: 2, onnotice: () => {} });
  return sql;
}

/** Closes the connection so Deno's leak checks pass. */
export async function closeTestDb(): Promise<void> {
  await sql?.end({ timeout: 5 });
  sql = undefined;
}
