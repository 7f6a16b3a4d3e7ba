/**
 * Serves the static admin UI (`admin-ui/`) plus a generated `/config.js` that tells the page
 * where the functions are and which public (anon) key to use — the same file a static host
 * would serve in production.
 *
 * @module
 */
import { REPO_ROOT } from "./migrations.ts";

const UI_DIR = `${REPO_ROOT}admin-ui`;

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
};

/** What the page needs to reach the API. Only public values: never the service key. */
export interface UiRuntimeConfig {
  supabaseUrl: string;
  anonKey: string;
}

/** The body of `/config.js`. */
export function configScript(config: UiRuntimeConfig): string {
  return `window.S3_IMAGE_CACHE_CONFIG = ${JSON.stringify(config)};\n`;
}

/** Starts the UI server on 127.0.0.1:`port`. */
export function startUiServer(port: number, config: UiRuntimeConfig): Deno.HttpServer {
  return Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    if (path === "/config.js") {
      return new Response(configScript(config), {
        headers: { "content-type": TYPES.js, "cache-control": "no-store" },
      });
    }
    if (path.split("/").includes("..")) return new Response("Not found", { status: 404 });
    const file = path.endsWith("/") ? `${path}index.html` : path;
    try {
      const body = await Deno.readFile(`${UI_DIR}${file}`);
      const extension = file.split(".").pop() ?? "";
      return new Response(body, {
        headers: {
          "content-type": TYPES[extension] ?? "application/octet-stream",
          "cache-control": "no-cache",
          "x-content-type-options": "nosniff",
        },
      });
    } catch {
      return new Response("Not found", { status: 404 });
    }
  });
}
