/**
 * Serves the admin UI, built from `admin-ui/` by esbuild into `admin-ui/dist/` (on start, and
 * again when a source file is newer than the build, checked on each page load), plus a
 * generated `/config.js` that tells the page (the admin UI, and the embed demo at
 * `/embed-demo.html`) where the project is and which public key to use —
 * the file a static host serves in production (`npm run build:ui`).
 *
 * @module
 */
import {
  buildUi,
  configScript,
  UI_DIST_DIR,
  uiBuildIsStale,
  type UiConfigValues,
} from "../build_ui.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  map: "application/json",
  css: "text/css; charset=utf-8",
  json: "application/json",
  png: "image/png",
  ico: "image/x-icon",
};

/** What the page needs to reach the API. Only public values: never the service key. */
export type UiRuntimeConfig = UiConfigValues;

export { configScript };

/** Starts the UI server on 127.0.0.1:`port`. */
export function startUiServer(port: number, config: UiRuntimeConfig): Deno.HttpServer {
  let building: Promise<unknown> | undefined;
  // One build at a time; a page load while it runs waits for it.
  const ensureBuilt = () =>
    building ??= uiBuildIsStale().then((stale) => stale ? buildUi() : undefined).finally(() => {
      building = undefined;
    });
  const firstBuild = ensureBuilt();
  firstBuild.catch((error) => console.error("Admin UI build failed:", error));

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
      // A page load checks the build is current; the files it pulls in then wait for that.
      if (file === "/index.html" || file === "/embed-demo.html") await ensureBuilt();
      else await firstBuild;
    } catch (error) {
      return new Response(`The admin UI failed to build: ${error}`, { status: 500 });
    }
    try {
      const body = await Deno.readFile(`${UI_DIST_DIR}${file}`);
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
