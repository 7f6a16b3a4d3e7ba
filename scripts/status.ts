/**
 * `npm run status`: the running stack's URLs and keys as `KEY=value` lines (the shape of
 * `supabase status -o env`), for scripts to read.
 *
 * @module
 */
import { REPO_ROOT } from "./stack/migrations.ts";

const STATUS_FILE = `${REPO_ROOT}.local/status.env`;

try {
  const text = await Deno.readTextFile(STATUS_FILE);
  const apiUrl = /^API_URL=(.*)$/m.exec(text)?.[1];
  const alive = apiUrl
    ? await fetch(`${apiUrl}/functions/v1/`, { signal: AbortSignal.timeout(2000) })
      .then(async (r) => (await r.body?.cancel(), true), () => false)
    : false;
  if (!alive) {
    console.error("The local stack is not running (start it with `npm start`).");
    Deno.exit(1);
  }
  await Deno.stdout.write(new TextEncoder().encode(text));
} catch {
  console.error("The local stack is not running (start it with `npm start`).");
  Deno.exit(1);
}
