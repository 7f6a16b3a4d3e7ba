/**
 * `upload-to-s3` edge function entry point and composition root: deployable unchanged with
 * `supabase functions deploy` and served locally by `deno serve` under the local functions host.
 *
 * The isolate's services are built here, once, on first use: one database client, one bucket,
 * the uploader over them. A bad setting is answered per request as a 500 naming the variable
 * (health still says who is calling), never a crashed worker.
 *
 * @module
 */
import { createAuthenticator } from "../_shared/auth/authenticate.ts";
import { authSettingsFromEnv } from "../_shared/auth/settings.ts";
import { parseConfig } from "../_shared/platform/config.ts";
import { createDb } from "../_shared/platform/db.ts";
import { PeakMeter } from "../_shared/platform/memory_meter.ts";
import { once } from "../_shared/server/once.ts";
import type { Handler } from "../_shared/server/responses.ts";
import { platformChecks } from "../_shared/server/platform_checks.ts";
import { buildUploadServices, createUploadHandler } from "./handler.ts";

/**
 * The function over the environment `env`: every service built once, on first use.
 *
 * @param env The variables hosted Supabase injects plus the function's secrets.
 */
export function composeFunction(env: Record<string, string | undefined>): Handler {
  const config = once(() => parseConfig(env));
  const sql = once(() => createDb(config()));
  const memory = new PeakMeter();
  return createUploadHandler({
    authenticator: once(() => createAuthenticator(authSettingsFromEnv(env))),
    services: once(() => buildUploadServices(config(), sql(), memory)),
    healthChecks: () => platformChecks(config(), sql()),
    memory,
  });
}

export default { fetch: composeFunction(Deno.env.toObject()) } satisfies Deno.ServeDefaultExport;
