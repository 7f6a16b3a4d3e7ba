/**
 * The database client both functions share: postgres.js over `SUPABASE_DB_URL`, configured to be
 * safe behind Supabase's transaction pooler (no prepared statements) and created lazily so a
 * request that never touches the database never connects.
 *
 * @module
 */
import postgres from "postgres";

/** A postgres.js client. */
export type Sql = postgres.Sql;

let client: Sql | undefined;

/** The shared client for `dbUrl`, created on first use. */
export function getDb(dbUrl: string): Sql {
  client ??= postgres(dbUrl, {
    // Supavisor in transaction mode cannot keep prepared statements across transactions.
    prepare: false,
    max: 4,
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "s3-image-cache" },
  });
  return client;
}

/** Closes the shared client (tests and graceful shutdown). */
export async function closeDb(): Promise<void> {
  const current = client;
  client = undefined;
  await current?.end({ timeout: 5 });
}
