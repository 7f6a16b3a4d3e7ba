/**
 * Where a component's calls go: the host app's own supabase-js client (`client` property: its
 * session is shared, nobody signs in twice), or a client made from the `supabase-url` and
 * `publishable-key` attributes. Such a client reads the session supabase-js keeps in this
 * origin's localStorage, so a host page that signed in with supabase-js is signed in here too.
 *
 * @module
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import { type Api, apiOverClient, createApi } from "../api.ts";

/** What an element knows about its project. */
export interface ConnectionSettings {
  client?: SupabaseClient | null;
  supabaseUrl?: string | null;
  publishableKey?: string | null;
}

/** Files above this go to the bucket directly, as in the admin UI (its default). */
const DIRECT_UPLOAD_BYTES = 4 * 1024 * 1024;

// One client per project and key for every element on the page: supabase-js warns about (and
// races between) several auth clients on one storage key.
const byProject = new Map<string, Api>();
const byClient = new WeakMap<SupabaseClient, Api>();

/**
 * The Api for `settings`, or null when it names no project yet. With a client, its URL and key
 * are read from the client itself unless the attributes give them: supabase-js keeps them as
 * (TypeScript-protected) fields, and the upload needs the function URL and `apikey`.
 */
export function connect(settings: ConnectionSettings): Api | null {
  const { client } = settings;
  if (client) {
    const known = byClient.get(client);
    if (known) return known;
    const fields = client as unknown as { supabaseUrl?: unknown; supabaseKey?: unknown };
    const supabaseUrl = settings.supabaseUrl ?? String(fields.supabaseUrl ?? "");
    const anonKey = settings.publishableKey ?? String(fields.supabaseKey ?? "");
    if (!supabaseUrl || !anonKey) return null;
    const api = apiOverClient(client, {
      supabaseUrl: supabaseUrl.replace(/\/+$/, ""),
      anonKey,
      directUploadBytes: DIRECT_UPLOAD_BYTES,
    });
    byClient.set(client, api);
    return api;
  }
  if (!settings.supabaseUrl || !settings.publishableKey) return null;
  const supabaseUrl = settings.supabaseUrl.replace(/\/+$/, "");
  const id = `${supabaseUrl} ${settings.publishableKey}`;
  let api = byProject.get(id);
  if (!api) {
    api = createApi({
      supabaseUrl,
      anonKey: settings.publishableKey,
      directUploadBytes: DIRECT_UPLOAD_BYTES,
    });
    byProject.set(id, api);
  }
  return api;
}
