/**
 * The embeddable components on the demo host page (`EMBED_DEMO_URL`), as a store's own back
 * office uses them: the page signs in with its own form and hands its supabase-js client over;
 * a manager uploads and replaces a product's image from its row; refusals read as the function
 * wrote them; the panel offers rebuild to admins only; the page's CSS and the components' stay
 * apart; a product id made of markup stays text.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { Buffer } from "node:buffer";
import { samplePng } from "../../scripts/lib/png.ts";
import { fixture, text } from "../support/bytes.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";
import { screenshot } from "./browser.ts";
import {
  changes,
  forgetProduct,
  indexRows,
  openEmbedDemo,
  pickFile,
  productImage,
  screenshotOf,
  signInOnDemo,
} from "./embed_page.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const AXE = new URL("../../node_modules/axe-core/axe.min.js", import.meta.url).pathname;

/** axe's WCAG 2 A/AA violations inside the components (their shadow roots included). */
async function componentViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.addScriptTag({ path: AXE });
  return await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const axe = (globalThis as any).axe;
    const result = await axe.run(
      { include: [["s3-product-image"], ["s3-image-cache-panel"]] },
      { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } },
    );
    return result.violations.map((v: { id: string; help: string; nodes: unknown[] }) =>
      `${v.id}: ${v.help} (${v.nodes.length})`
    );
  });
}

/** The natural size of the image a component shows, once it has loaded. */
async function shownSize(component: ReturnType<typeof productImage>, key: string) {
  const image = component.locator(`img[data-key="${key}"]`);
  await image.waitFor();
  await image.evaluate((img: HTMLImageElement) =>
    img.complete && img.naturalWidth > 0 ? undefined : new Promise((resolve, reject) => {
      img.addEventListener("load", resolve, { once: true });
      img.addEventListener("error", reject, { once: true });
    })
  );
  return await image.evaluate((img: HTMLImageElement) => ({
    width: img.naturalWidth,
    height: img.naturalHeight,
    src: img.src,
  }));
}

Deno.test(
  "a manager uploads an image for product 14001 from its row, then replaces it after confirming",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close, pageErrors } = await openEmbedDemo();
    try {
      await forgetProduct("14001");
      await signInOnDemo(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      const row = productImage(page, "14001");
      await row.getByText("No image yet").waitFor();

      // The file's own name is irrelevant: the key comes from the product id and the format.
      await pickFile(row, "Upload image", {
        name: "IMG_2291 final.png",
        mimeType: "image/png",
        bytes: samplePng(1, 160, 120),
      });
      const first = await shownSize(row, "14001.png");
      assert.deepEqual([first.width, first.height], [160, 120]);
      const [stored] = await indexRows("14001.");
      assert.equal(stored.filename, "14001.png");
      assert.deepEqual(await indexRows("14001."), [stored]);
      const events = await changes(page);
      assert.equal(events.length, 1, "one change event for one upload");
      assert.equal(events[0].productId, "14001");
      assert.equal(events[0].key, "14001.png");
      assert.equal(events[0].etag, stored.etag);
      assert.ok(events[0].url.includes("/14001.png"), events[0].url);
      assert.equal(events[0].url, first.src);
      await screenshot(page, "embed-01-uploaded");

      // Replacing asks first; nothing is sent before the answer.
      await pickFile(row, "Replace image", {
        name: "new.png",
        mimeType: "image/png",
        bytes: samplePng(2, 200, 100),
      });
      const dialog = row.getByRole("dialog");
      await dialog.getByRole("heading", { name: "Replace the image of product 14001?" }).waitFor();
      assert.equal((await indexRows("14001."))[0].etag, stored.etag);
      await screenshot(page, "embed-02-replace-question");
      await dialog.getByRole("button", { name: "Replace" }).click();

      // The new picture, not a cached copy of the old one: same key, other bytes and size.
      await row.locator("img[data-key='14001.png']").and(
        row.locator(`img:not([data-etag='${stored.etag}'])`),
      ).waitFor();
      const second = await shownSize(row, "14001.png");
      assert.deepEqual([second.width, second.height], [200, 100]);
      assert.notEqual(second.src, first.src);
      const [replaced] = await indexRows("14001.");
      assert.notEqual(replaced.etag, stored.etag);
      const after = await changes(page);
      assert.equal(after.length, 2, "one more change event for the replacement");
      assert.deepEqual(after[1], {
        productId: "14001",
        key: "14001.png",
        url: second.src,
        etag: replaced.etag,
      });
      await screenshot(page, "embed-03-replaced");
      assert.deepEqual(pageErrors, []);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "the key's extension follows the image's real format, and an SVG is refused in the function's words",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close, pageErrors } = await openEmbedDemo();
    try {
      await forgetProduct("14000");
      await forgetProduct("14002");
      await signInOnDemo(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);

      // A JPEG the browser calls a PNG: the function names the format, the key follows it.
      const jpegAsPng = productImage(page, "14002");
      await pickFile(jpegAsPng, "Upload image", {
        name: "photo.png",
        mimeType: "image/png",
        bytes: fixture("product.jpg"),
      });
      await shownSize(jpegAsPng, "14002.jpg");
      assert.deepEqual((await indexRows("14002.")).map((r) => r.filename), ["14002.jpg"]);

      const row = productImage(page, "14000");
      await pickFile(row, "Upload image", {
        name: "logo.svg",
        mimeType: "image/svg+xml",
        bytes: text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
      });
      const refusal = row.getByRole("alert");
      await refusal.waitFor();
      const message = await refusal.innerText();
      assert.equal(await refusal.getAttribute("data-code"), "unsupported_media_type");
      assert.match(message, /JPEG, PNG, WebP, GIF (and|or) AVIF/);
      // Next to its own row only.
      assert.equal(await productImage(page, "14001").getByRole("alert").count(), 0);
      assert.deepEqual(await indexRows("14000."), []);
      await row.getByText("No image yet").waitFor();
      await screenshot(page, "embed-04-svg-refused");
      await screenshotOf(page.locator("body > table"), "embed-04-product-table");
      assert.deepEqual(pageErrors, []);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "the panel: a manager sees statistics and why there is no rebuild; an admin runs one to succeeded",
  browserTest,
  async () => {
    const info = stackInfo();
    const manager = await openEmbedDemo();
    try {
      await signInOnDemo(manager.page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      const panel = manager.page.locator("s3-image-cache-panel");
      await panel.getByRole("heading", { name: "Quick add" }).waitFor();
      await panel.getByText("Only admins can rebuild the index.").waitFor();
      assert.equal(await panel.getByRole("button", { name: "Rebuild index" }).count(), 0);
      await screenshot(manager.page, "embed-05-panel-manager");
    } finally {
      await manager.close();
    }

    const admin = await openEmbedDemo();
    try {
      await signInOnDemo(admin.page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
      const [{ id: previous }] = await testDb()<{ id: number }[]>`
        select coalesce(max(id), 0)::int as id from public.s3_cache_rebuilds`;
      const panel = admin.page.locator("s3-image-cache-panel");
      await panel.getByRole("button", { name: "Rebuild index" }).click();
      await panel.getByRole("dialog").getByRole("button", { name: "Start rebuild" }).click();
      const settled = panel.locator(
        `.job-progress:not([data-job-id="${previous}"]) [data-status]:not([data-status="running"])`,
      );
      await settled.waitFor({ timeout: 60_000 });
      assert.equal(await settled.getAttribute("data-status"), "succeeded");
      await screenshot(admin.page, "embed-06-panel-rebuilt");
      assert.deepEqual(admin.pageErrors, []);
    } finally {
      await admin.close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "the host page's CSS stays out of the components and theirs stays out of the page",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openEmbedDemo();
    try {
      await signInOnDemo(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      const component = productImage(page, "14002");
      const inside = component.getByRole("button", { name: /image$/ });
      await inside.waitFor();
      const style = (locator: typeof inside, ...names: string[]) =>
        locator.evaluate(
          (element, names) => names.map((name) => getComputedStyle(element).getPropertyValue(name)),
          names,
        );
      const pageButton = page.getByRole("button", { name: "Sign in" });
      // The page styles every button as a pill in its brick red, upper case; not the component's.
      assert.deepEqual(await style(pageButton, "text-transform", "background-color"), [
        "uppercase",
        "rgb(163, 59, 32)",
      ]);
      assert.deepEqual(await style(inside, "text-transform", "background-color"), [
        "none",
        "rgb(11, 92, 173)",
      ]);
      // The page's `p { font-style: italic }` and `.error` stay the page's own.
      assert.deepEqual(await style(page.locator("#page-note"), "font-style", "background-color"), [
        "italic",
        "rgb(17, 17, 17)",
      ]);
      const note = page.locator("s3-image-cache-panel").getByText("Only admins can rebuild");
      assert.deepEqual(await style(note, "font-style"), ["normal"]);
      // What a host may change, it changes: a documented custom property sets the image size.
      const frame = component.locator(".frame");
      assert.equal((await frame.boundingBox())?.width, 88);
      await screenshot(page, "embed-07-styles");
    } finally {
      await close();
    }
  },
);

Deno.test(
  "a product id made of markup stays text, before and after its image is uploaded",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close, dialogs, pageErrors } = await openEmbedDemo();
    const productId = "<img src=x onerror=window.__xss=1>";
    try {
      await forgetProduct(productId);
      await signInOnDemo(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      const row = productImage(page, "markup");
      await row.getByRole("img", { name: `Image of product ${productId}` }).waitFor();
      await pickFile(row, "Upload image", {
        name: "x.png",
        mimeType: "image/png",
        bytes: samplePng(3, 40, 40),
      });
      await shownSize(row, `${productId}.png`);
      await row.getByText(`${productId}.png`, { exact: true }).first().waitFor();
      assert.deepEqual((await indexRows(productId)).map((r) => r.filename), [`${productId}.png`]);
      // No element was made from the id: the only image is the product's own.
      assert.equal(await row.locator("img").count(), 1);
      assert.equal(await page.evaluate(() => "__xss" in globalThis), false);
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
      await forgetProduct(productId);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "the components pass axe's WCAG 2 A/AA checks and work from the keyboard",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openEmbedDemo();
    try {
      await forgetProduct("14000");
      await signInOnDemo(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      const row = productImage(page, "14000");
      await row.getByText("No image yet").waitFor();
      await page.locator("s3-image-cache-panel").getByRole("heading", { name: "Quick add" })
        .waitFor();

      // Enter on the focused button opens the file chooser; the upload needs no mouse.
      const button = row.getByRole("button", { name: "Upload image" });
      await button.focus();
      const [chooser] = await Promise.all([
        page.waitForEvent("filechooser"),
        page.keyboard.press("Enter"),
      ]);
      await chooser.setFiles({
        name: "a.png",
        mimeType: "image/png",
        buffer: Buffer.from(samplePng(4, 60, 60)),
      });
      await shownSize(row, "14000.png");
      // Replacing: the question is a modal dialog; Escape leaves everything as it was.
      const replace = row.getByRole("button", { name: "Replace image" });
      // The image can show before the upload's confirmation ends, and the button stays disabled
      // until it does: a keyboard user presses Enter once it is enabled, and so does the test.
      await replace.and(page.locator(":enabled")).waitFor();
      await replace.focus();
      const [again] = await Promise.all([
        page.waitForEvent("filechooser"),
        page.keyboard.press("Enter"),
      ]);
      await again.setFiles({
        name: "b.png",
        mimeType: "image/png",
        buffer: Buffer.from(samplePng(5, 60, 60)),
      });
      await row.getByRole("dialog").waitFor();
      const withDialog = await componentViolations(page);
      await page.keyboard.press("Escape");
      await row.getByRole("dialog").waitFor({ state: "hidden" });
      assert.deepEqual(withDialog, [], "with the replace question open");
      assert.equal((await changes(page)).length, 1, "nothing replaced after Escape");
      // Checked last: once axe has run, Chromium opens no more file choosers for the page.
      assert.deepEqual(await componentViolations(page), [], "with an image");
      await forgetProduct("14000");
    } finally {
      await close();
      await closeTestDb();
    }
  },
);
