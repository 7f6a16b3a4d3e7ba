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
    types: { int8AsNumber: INT8_AS_NUMBER },
  });
  return client;
}

/** Closes the shared client (tests and graceful shutdown). */
export async function closeDb(): Promise<void> {
  const current = client;
  client = undefined;
  await current?.end({ timeout: 5 });
}
