/**
 * Applies `supabase/migrations/*.sql` with the real Supabase CLI, so they are recorded in
 * `supabase_migrations.schema_migrations` exactly as on a hosted project.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { run } from "./process.ts";

/** The repository root (two levels above this file). */
export const REPO_ROOT = fromFileUrl(new URL("../..", import.meta.url));
const SUPABASE_CLI = `${REPO_ROOT}node_modules/.bin/supabase`;

/** Runs `supabase db push --db-url <url>`; throws with the CLI's own output on failure. */
export async function applyMigrations(dbUrl: string): Promise<void> {
  await run([SUPABASE_CLI, "db", "push", "--db-url", dbUrl, "--include-all", "--yes"], {
    cwd: REPO_ROOT,
    // The CLI offers to upgrade itself and prints telemetry notices; neither is wanted here.
    env: { DO_NOT_TRACK: "1", SUPABASE_TELEMETRY_DISABLED: "1" },
  });
}
