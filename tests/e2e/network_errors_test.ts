/**
 * Network failures are shown where they happen, never swallowed: an unreachable API on the
 * statistics screen, a failing listing in Browse, and an upload whose connection drops.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { fixture } from "../support/bytes.ts";
import { stackInfo } from "../support/stack.ts";
import { openAdminUi, openSection, signIn } from "./browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "an unreachable API and a dropped upload are shown, not swallowed",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);

      await page.route("**/functions/v1/s3-image-service/stats", (route) => route.abort());
      await page.getByRole("button", { name: "Refresh" }).click();
      const statsError = page.getByRole("alert");
      await statsError.waitFor();
      assert.match(await statsError.innerText(), /could not be reached/);

      await page.route("**/functions/v1/s3-image-service/files?*", (route) =>
        route.fulfill({
          status: 503,
          contentType: "application/json",
          body: JSON.stringify({
            error: { code: "database_unavailable", message: "The index database is unreachable" },
          }),
        }));
      await openSection(page, "Browse");
      await page.getByText("The index database is unreachable").waitFor();

      await page.route("**/functions/v1/upload-to-s3", (route) => route.abort("connectionreset"));
      await openSection(page, "Upload");
      await page.locator("#upload-files").setInputFiles([
        {
          name: "e2e-net.jpg",
          mimeType: "image/jpeg",
          buffer: Buffer.from(fixture("product.jpg")),
        },
      ]);
      await page.getByRole("button", { name: "Upload 1 file" }).click();
      const row = page.locator('li.upload-row[data-name="e2e-net.jpg"][data-state="failed"]');
      await row.waitFor();
      assert.match(
        await row.getByTestId("upload-message").innerText(),
        /could not reach the server/,
      );
      // Once the line is back, Retry stores it.
      await page.unroute("**/functions/v1/upload-to-s3");
      await row.getByRole("button", { name: "Retry" }).click();
      await page.locator('li.upload-row[data-name="e2e-net.jpg"][data-state="done"]').waitFor();
    } finally {
      await close();
    }
  },
);
