/**
 * Signing in with e-mail and password through supabase-js against the local auth mirror: the
 * account bar, the session kept across a reload, sign-out, and the no-role explanation.
 */
import assert from "node:assert/strict";
import { stackInfo } from "../support/stack.ts";
import { openAdminUi, screenshot, signIn } from "./browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "an admin signs in with e-mail and password, keeps the session on reload, signs out",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close, pageErrors } = await openAdminUi();
    try {
      assert.equal(await page.title(), "S3 image cache — admin");
      // The local stack lists its accounts on the sign-in screen.
      await page.getByRole("button", { name: `Use ${info.MANAGER_EMAIL}` }).waitFor();
      await screenshot(page, "01-sign-in");

      await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
      assert.match(await page.getByTestId("who").innerText(), new RegExp(info.ADMIN_EMAIL));
      assert.equal(await page.getByTestId("role").innerText(), "admin");
      // Statistics come first.
      await page.getByRole("heading", { name: "Statistics" }).waitFor();

      await page.reload();
      await page.getByTestId("who").waitFor();
      assert.equal(await page.getByTestId("role").innerText(), "admin");

      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("button", { name: "Sign in" }).waitFor();
      await page.reload();
      await page.getByRole("button", { name: "Sign in" }).waitFor();
      assert.deepEqual(pageErrors, []);
    } finally {
      await close();
    }
  },
);

Deno.test("a wrong password is refused with a sentence next to the form", browserTest, async () => {
  const info = stackInfo();
  const { page, close } = await openAdminUi();
  try {
    await page.getByLabel("Email").fill(info.ADMIN_EMAIL);
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    const error = page.getByRole("alert");
    await error.waitFor();
    assert.match(await error.innerText(), /wrong e-mail or password/i);
    assert.equal(await page.getByTestId("who").count(), 0);
  } finally {
    await close();
  }
});

Deno.test("a manager signs in and sees the manager role", browserTest, async () => {
  const info = stackInfo();
  const { page, close } = await openAdminUi();
  try {
    await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
    assert.equal(await page.getByTestId("role").innerText(), "manager");
    await page.getByRole("heading", { name: "Statistics" }).waitFor();
  } finally {
    await close();
  }
});

Deno.test("a user with no role is told why they can do nothing", browserTest, async () => {
  const info = stackInfo();
  const { page, close } = await openAdminUi();
  try {
    await signIn(page, info.VIEWER_EMAIL, info.VIEWER_PASSWORD);
    assert.equal(await page.getByTestId("role").innerText(), "no role");
    const note = page.getByRole("heading", { name: "This account has no role" });
    await note.waitFor();
    assert.equal(await page.getByRole("navigation", { name: "Sections" }).count(), 0);
    await screenshot(page, "02-no-role");
  } finally {
    await close();
  }
});

Deno.test(
  "sign-in and moving between screens work from the keyboard alone",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      await page.getByRole("button", { name: "Sign in" }).waitFor();
      const focusedId = () => page.evaluate(() => document.activeElement?.id ?? "");
      for (let i = 0; i < 5 && (await focusedId()) !== "signin-email"; i++) {
        await page.keyboard.press("Tab");
      }
      assert.equal(await focusedId(), "signin-email");
      await page.keyboard.type(info.ADMIN_EMAIL);
      await page.keyboard.press("Tab");
      await page.keyboard.type(info.ADMIN_PASSWORD);
      await page.keyboard.press("Enter");
      await page.getByTestId("who").waitFor();

      const uploadTab = page.getByRole("link", { name: "Upload" });
      for (let i = 0; i < 10; i++) {
        if (await uploadTab.evaluate((el) => el === document.activeElement)) break;
        await page.keyboard.press("Tab");
      }
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "Upload images" }).waitFor();
      // The hidden file input is reachable: its label shows the focus.
      for (let i = 0; i < 10 && (await focusedId()) !== "upload-files"; i++) {
        await page.keyboard.press("Tab");
      }
      assert.equal(await focusedId(), "upload-files");
    } finally {
      await close();
    }
  },
);
