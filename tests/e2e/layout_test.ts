/**
 * The admin UI at phone width: every main screen fits without sideways scrolling, and the
 * screens are saved as artifacts.
 */
import assert from "node:assert/strict";
import { stackInfo } from "../support/stack.ts";
import { openAdminUi, openSection, screenshot, signIn } from "./browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

Deno.test("every screen fits a phone's width without sideways scrolling", browserTest, async () => {
  const info = stackInfo();
  const { page, close } = await openAdminUi({ width: 390, height: 844 });
  try {
    const overflow = () =>
      page.evaluate(() =>
        document.documentElement.scrollWidth - document.documentElement.clientWidth
      );
    assert.equal(await overflow(), 0, "sign-in screen");
    await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
    for (const section of ["Statistics", "Upload", "Browse", "Rebuild", "Reconcile"]) {
      await openSection(page, section);
      await page.waitForLoadState("networkidle");
      assert.equal(await overflow(), 0, `${section} screen`);
      await screenshot(page, `phone-${section.toLowerCase()}`);
    }
  } finally {
    await close();
  }
});
