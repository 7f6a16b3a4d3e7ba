/**
 * Every main screen checked by axe-core (WCAG 2 A/AA rules: labels, roles, names, contrast) in
 * Chromium, signed in as an admin so every control is there.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Page } from "playwright-core";
import { fixture } from "../support/bytes.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import { openAdminUi, openSection, signIn } from "./browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const AXE = new URL("../../node_modules/axe-core/axe.min.js", import.meta.url).pathname;

interface Violation {
  id: string;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/** axe's WCAG 2 A/AA violations on the page as it is now, one line each. */
async function violations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const axe = (globalThis as any).axe;
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return result.violations;
  }) as Violation[];
  return found.map((v) =>
    `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`
  );
}

Deno.test("every main screen passes axe's WCAG 2 A/AA checks", browserTest, async () => {
  const info = stackInfo();
  const { page, close } = await openAdminUi();
  try {
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    assert.deepEqual(await violations(page), [], "sign-in");
    await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
    await page.getByTestId("stat-count").waitFor();
    assert.deepEqual(await violations(page), [], "statistics");

    await openSection(page, "Upload");
    await page.locator("#upload-files").setInputFiles([
      { name: "e2e-a11y.jpg", mimeType: "image/jpeg", buffer: Buffer.from(fixture("product.jpg")) },
      { name: "e2e-a11y.svg", mimeType: "image/svg+xml", buffer: Buffer.from("<svg/>") },
    ]);
    await page.getByRole("button", { name: "Upload 2 files" }).click();
    await page.locator('li.upload-row[data-state="failed"]').waitFor();
    await page.locator('li.upload-row[data-state="done"], li.upload-row[data-state="exists"]')
      .waitFor();
    assert.deepEqual(await violations(page), [], "upload");

    await openSection(page, "Browse");
    await page.getByRole("button", { name: "e2e-a11y.jpg", exact: true }).click();
    await page.getByLabel("Image URL").waitFor();
    assert.deepEqual(await violations(page), [], "browse with preview");

    await openSection(page, "Rebuild");
    await page.locator(".job-progress, .muted").first().waitFor();
    assert.deepEqual(await violations(page), [], "rebuild");
    await page.getByRole("button", { name: "Rebuild index" }).click();
    await page.getByRole("dialog").waitFor();
    assert.deepEqual(await violations(page), [], "rebuild confirmation");
    await page.keyboard.press("Escape");
    await page.getByRole("dialog").waitFor({ state: "hidden" });

    await openSection(page, "Reconcile");
    await page.getByRole("button", { name: "Dry run" }).click();
    await page.locator(".job-progress").waitFor();
    assert.deepEqual(await violations(page), [], "reconcile");
  } finally {
    await close();
    // Leave no dry run waiting for review behind for the next tests.
    const { body } = await callFunction("s3-image-service/rebuild", { token: info.ADMIN_TOKEN });
    const job = body.job as { id: number; status: string } | null;
    if (job?.status === "running") {
      await callFunction(`s3-image-service/rebuild/${job.id}/cancel`, {
        token: info.ADMIN_TOKEN,
        method: "POST",
      });
    }
  }
});
