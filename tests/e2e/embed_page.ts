/**
 * The embed demo host page (`EMBED_DEMO_URL`) as a test sees it: the page's own sign-in form, a
 * product row's `<s3-product-image>`, the `change` events the page collected. Playwright's
 * locators pierce open shadow roots, as assistive technology reads them.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Locator, Page } from "playwright-core";
import { stackInfo } from "../support/stack.ts";
import { testDb } from "../support/db.ts";
import { testStorage } from "../support/s3.ts";
import { ARTIFACTS_DIR, type BrowserSession, openAdminUi } from "./browser.ts";

/** Chromium on the demo page. */
export async function openEmbedDemo(): Promise<BrowserSession> {
  const session = await openAdminUi({ url: stackInfo().EMBED_DEMO_URL });
  // Playwright turns Chromium's file chooser interception on when the first listener is added,
  // asynchronously: a chooser that opens before that is a native one and fires no event (a key
  // press right after `waitForEvent("filechooser")` lost that race about two runs in three). A
  // listener for the page's whole life has it on long before any test presses a key.
  session.page.on("filechooser", () => {});
  return session;
}

/** Signs in with the page's own form (not the components': they have none). */
export async function signInOnDemo(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`Signed in as ${email}`).waitFor();
}

/** The `<s3-product-image>` of a product row (`data-product` on the row). */
export function productImage(page: Page, row: string): Locator {
  return page.locator(`tr[data-product="${row}"] s3-product-image`);
}

/** Picks `file` through the component's button and the browser's file chooser, as a person does. */
export async function pickFile(
  component: Locator,
  button: string,
  file: { name: string; mimeType: string; bytes: Uint8Array },
): Promise<void> {
  const [chooser] = await Promise.all([
    component.page().waitForEvent("filechooser"),
    component.getByRole("button", { name: button }).click(),
  ]);
  await chooser.setFiles({
    name: file.name,
    mimeType: file.mimeType,
    buffer: Buffer.from(file.bytes),
  });
}

/** What the page's `change` listener collected. */
export function changes(page: Page): Promise<Array<Record<string, string>>> {
  return page.evaluate(() =>
    (globalThis as unknown as { embedChanges: Array<Record<string, string>> }).embedChanges
  );
}

/** The index rows whose names start with `prefix`. */
export async function indexRows(
  prefix: string,
): Promise<Array<{ filename: string; etag: string }>> {
  const rows = await testDb()<Array<{ filename: string; etag: string }>>`
    select filename, etag from public.s3_image_cache where filename like ${prefix + "%"}
    order by filename`;
  return rows.map(({ filename, etag }) => ({ filename, etag }));
}

/** Removes a product's images from the bucket and the index, so a test starts from none. */
export async function forgetProduct(productId: string): Promise<void> {
  for (const row of await indexRows(`${productId}.`)) await testStorage().delete(row.filename);
  await testDb()`delete from public.s3_image_cache where filename like ${productId + ".%"}`;
}

/** Saves one part of the page as `artifacts/<name>.png` (docs/img/embed-demo.png is one). */
export async function screenshotOf(locator: Locator, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS_DIR, { recursive: true });
  await locator.screenshot({ path: `${ARTIFACTS_DIR}/${name}.png` });
}
