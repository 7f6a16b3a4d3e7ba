/**
 * `s3-image-service` edge function entry point: deployable unchanged with `supabase functions deploy`
 * and served locally by `deno serve` under the local functions host.
 *
 * @module
 */
import { serveJson } from "../_shared/server/responses.ts";
import { handle } from "./handler.ts";

export default { fetch: serveJson(handle) } satisfies Deno.ServeDefaultExport;
