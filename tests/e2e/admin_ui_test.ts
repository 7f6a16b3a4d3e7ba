import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { stackInfo } from "../support/stack.ts";

/** Chromium flags that work on machines with no network but loopback, as root. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

Deno.test("admin UI loads in Chromium and reaches both functions", async () => {
  const browser = await chromium.launch({
    executablePath: Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    await page.goto(stackInfo().UI_URL);
    await page.getByText("upload-to-s3: ok · s3-image-service: ok").waitFor({ timeout: 15_000 });
    assert.equal(await page.title(), "S3 image cache — admin");
  } finally {
    await browser.close();
  }
});
