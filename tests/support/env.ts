/**
 * Process environment changes for unit tests, undone afterwards (the environment is shared by
 * every test module of the run).
 *
 * @module
 */

/** Runs `body` with `vars` set (`undefined` unsets one), then restores what was there. */
export async function withEnv(
  vars: Record<string, string | undefined>,
  body: () => Promise<void>,
): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, Deno.env.get(name)]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  };
  apply(vars);
  try {
    await body();
  } finally {
    apply(saved);
  }
}

/** The smallest valid function configuration (nothing is contacted until a request needs it). */
export const VALID_FUNCTION_ENV: Record<string, string> = {
  AWS_ACCESS_KEY: "unit-test-key",
  AWS_SECRET_ACCESS_KEY: "unit-test-secret",
  S3_BUCKET: "unit-test-bucket",
  S3_ENDPOINT: "http://127.0.0.1:9",
  SUPABASE_DB_URL: "postgres://postgres@127.0.0.1:9/postgres",
};
