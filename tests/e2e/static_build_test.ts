/**
 * The production build on a plain static host: `buildUi` with the project's URL and publishable
 * key, served from a sub-path (as a public Storage bucket serves it), on another origin than the
 * local stack's UI server — signing in and reading the statistics must work as they do there.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { buildUi } from "../../scripts/build_ui.ts";
import { stackInfo } from "../support/stack.ts";
import { CHROMIUM_ARGS } from "./browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript",
  css: "text/css",
  map: "application/json",
};

Deno.test(
  "the production build works from any static host, under a sub-path",
  browserTest,
  async () => {
    const info = stackInfo();
    const outDir = await Deno.makeTempDir({ prefix: "s3-image-cache-ui-build-" });
    const profile = await Deno.makeTempDir({ prefix: "s3-image-cache-chromium-" });
    const files = await buildUi({
      outDir,
      config: { supabaseUrl: info.API_URL, anonKey: info.PUBLISHABLE_KEY },
    });
    assert.deepEqual(files.map((f) => f.name).sort(), [
      "app.css",
      "app.js",
      "config.js",
      "embed-demo.html",
      "embed-demo.js",
      "embed.js",
      "index.html",
    ]);
    // A dumb file server: no config generation, no fallback, files under /public/admin-ui/.
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const path = new URL(req.url).pathname;
        const name = path.replace(/^\/public\/admin-ui\//, "");
        if (name === path || name.includes("/")) return new Response("Not found", { status: 404 });
        try {
          const body = await Deno.readFile(`${outDir}/${name}`);
          return new Response(body, { headers: { "content-type": TYPES[name.split(".").pop()!] } });
        } catch {
          return new Response("Not found", { status: 404 });
        }
      },
    );
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_ARGS,
    });
    try {
      const page = context.pages()[0] ?? await context.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(`http://127.0.0.1:${server.addr.port}/public/admin-ui/index.html`);
      // No local accounts outside the local stack's own server.
      await page.getByRole("button", { name: "Sign in" }).waitFor();
      assert.equal(await page.getByText("Local accounts").count(), 0);
      await page.getByLabel("Email").fill(info.MANAGER_EMAIL);
      await page.getByLabel("Password").fill(info.MANAGER_PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
      assert.equal(await page.getByTestId("role").innerText(), "manager");
      const count = page.getByTestId("stat-count");
      await page.waitForFunction(() =>
        /\d/.test(document.querySelector("[data-testid=stat-count]")?.textContent ?? "")
      );
      assert.match(await count.innerText(), /^\d[\d,]*$/);

      // The embed works from the same static folder: the demo page, its own sign-in, the
      // components handed its client (the admin UI's session above is in the same origin).
      await page.goto(`http://127.0.0.1:${server.addr.port}/public/admin-ui/embed-demo.html`);
      await page.locator('tr[data-product="14001"] s3-product-image')
        .getByRole("button", { name: /^(Upload|Replace) image$/ }).waitFor();
    } finally {
      await context.close();
      await server.shutdown();
      await Deno.remove(outDir, { recursive: true });
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
);
