/**
 * Uploading through the admin UI: several files by the file input, each with its own outcome in
 * the function's words, the index updated, the replace question, and a name made of markup that
 * stays text everywhere it is shown.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Page } from "playwright-core";
import { samplePng } from "../../scripts/lib/png.ts";
import { fixture } from "../support/bytes.ts";
import { testStorage } from "../support/s3.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";
import { openAdminUi, openSection, screenshot, signIn } from "./browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const JPEG = fixture("product.jpg");
const MAX_UPLOAD_BYTES = 10 * 1024 * 1024; // the stack runs with the default

/** The same picture with a JPEG comment segment after SOI: other bytes, still a valid JPEG. */
function jpegVariant(note: string): Uint8Array {
  const comment = new TextEncoder().encode(note);
  const segment = new Uint8Array([0xff, 0xfe, 0, comment.length + 2, ...comment]);
  return new Uint8Array([...JPEG.subarray(0, 2), ...segment, ...JPEG.subarray(2)]);
}

/** A valid JPEG of about `megabytes` MiB: the picture with comment segments in front. */
function largeJpeg(megabytes: number): Uint8Array {
  const chunk = 65533; // the largest segment body
  const count = Math.ceil((megabytes * 1024 * 1024) / (chunk + 4));
  const out = new Uint8Array(JPEG.length + count * (chunk + 4));
  out.set(JPEG.subarray(0, 2));
  let at = 2;
  for (let i = 0; i < count; i++) {
    out.set([0xff, 0xfe, (chunk + 2) >> 8, (chunk + 2) & 0xff], at);
    out.fill(0x20, at + 4, at + 4 + chunk);
    at += chunk + 4;
  }
  out.set(JPEG.subarray(2), at);
  return out;
}

function file(name: string, mimeType: string, bytes: Uint8Array) {
  return { name, mimeType, buffer: Buffer.from(bytes) };
}

/** The row of the upload list for the file named `name`. */
function uploadRow(page: Page, name: string) {
  const quoted = name.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
  return page.locator(`li.upload-row[data-name="${quoted}"]`);
}

async function settledState(page: Page, name: string, state: string): Promise<string> {
  const row = uploadRow(page, name);
  await row.and(page.locator(`[data-state="${state}"]`)).waitFor();
  return await row.getByTestId("upload-message").innerText();
}

/** Removes names starting with `prefix` from the bucket and the index, so a test can run again. */
async function forget(prefix: string): Promise<void> {
  for (const name of await indexed(prefix)) await testStorage().delete(name);
  await testDb()`delete from public.s3_image_cache where filename like ${prefix + "%"}`;
}

async function indexed(prefix: string): Promise<string[]> {
  const rows = await testDb()<{ filename: string }[]>`
    select filename from public.s3_image_cache where filename like ${prefix + "%"} order by 1`;
  return rows.map((row) => row.filename);
}

Deno.test(
  "a manager uploads several files: each gets its own outcome and the index is updated",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close, pageErrors } = await openAdminUi();
    try {
      await forget("e2e-up-");
      await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      await openSection(page, "Upload");
      const svg = new TextEncoder().encode(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
      );
      const oversized = new Uint8Array(MAX_UPLOAD_BYTES + 1024);
      oversized.set(JPEG.subarray(0, 64));
      await page.locator("#upload-files").setInputFiles([
        file("e2e-up-14000.jpg", "image/jpeg", JPEG),
        file("e2e-up-logo.svg", "image/svg+xml", svg),
        file("e2e-up-huge.jpg", "image/jpeg", oversized),
        file("e2e-up-photo.jpg", "image/jpeg", samplePng(3, 40, 30)),
      ]);
      await page.getByRole("button", { name: "Upload 4 files" }).click();

      assert.match(
        await settledState(page, "e2e-up-14000.jpg", "done"),
        /Stored as "e2e-up-14000\.jpg"/,
      );
      assert.match(await settledState(page, "e2e-up-logo.svg", "failed"), /extension|\.svg/i);
      assert.match(await settledState(page, "e2e-up-huge.jpg", "failed"), /at most 10 MiB/);
      assert.match(
        await settledState(page, "e2e-up-photo.jpg", "failed"),
        /really a PNG.*e2e-up-photo\.png/i,
      );
      await screenshot(page, "03-upload-outcomes");
      assert.deepEqual(await indexed("e2e-up-"), ["e2e-up-14000.jpg"]);

      // The function suggested a name; taking it and retrying stores the file.
      const photo = uploadRow(page, "e2e-up-photo.jpg");
      await photo.getByRole("button", { name: "Rename to e2e-up-photo.png" }).click();
      await uploadRow(page, "e2e-up-photo.png").getByRole("button", { name: "Retry" }).click();
      assert.match(await settledState(page, "e2e-up-photo.png", "done"), /Stored as/);
      assert.deepEqual(await indexed("e2e-up-"), ["e2e-up-14000.jpg", "e2e-up-photo.png"]);

      // Statistics show the new count without a reload.
      const expected = Number(
        (await testDb()`select count(*)::int as n from public.s3_image_cache`)[0].n,
      );
      await openSection(page, "Statistics");
      await page.getByTestId("stat-count").filter({ hasText: String(expected) }).waitFor();
      assert.deepEqual(pageErrors, []);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "a large file goes straight to the bucket and is indexed; an upload can be cancelled",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      await forget("e2e-big-");
      await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      await openSection(page, "Upload");
      await page.locator("#upload-files").setInputFiles([
        file("e2e-big-direct.jpg", "image/jpeg", largeJpeg(5)),
      ]);
      const row = uploadRow(page, "e2e-big-direct.jpg");
      await row.getByText("direct to bucket").waitFor();
      await page.getByRole("button", { name: "Upload 1 file" }).click();
      assert.match(await settledState(page, "e2e-big-direct.jpg", "done"), /Stored as/);
      assert.deepEqual(await indexed("e2e-big-"), ["e2e-big-direct.jpg"]);
      // The staging copy is gone: only the live key is left under the name.
      const staged = await testStorage().listPage({ prefix: "_incoming/" });
      assert.equal(staged.objects.filter((o) => o.key.endsWith("/e2e-big-direct.jpg")).length, 0);

      // A slow line: cancel mid-way stores nothing; retry on a fast line stores it.
      const cdp = await page.context().newCDPSession(page);
      const line = (uploadThroughput: number) =>
        cdp.send("Network.emulateNetworkConditions", {
          offline: false,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput,
        });
      await page.getByRole("button", { name: "Clear finished" }).click();
      await page.locator("#upload-files").setInputFiles([
        file("e2e-big-cancel.jpg", "image/jpeg", largeJpeg(5)),
      ]);
      await line(256 * 1024);
      await page.getByRole("button", { name: "Upload 1 file" }).click();
      const slow = uploadRow(page, "e2e-big-cancel.jpg");
      await slow.getByRole("progressbar").waitFor();
      await slow.getByRole("button", { name: "Cancel" }).click();
      assert.equal(await settledState(page, "e2e-big-cancel.jpg", "cancelled"), "Cancelled.");
      assert.deepEqual(await indexed("e2e-big-cancel"), []);
      await line(-1);
      await slow.getByRole("button", { name: "Retry" }).click();
      assert.match(await settledState(page, "e2e-big-cancel.jpg", "done"), /Stored as/);
      assert.deepEqual(await indexed("e2e-big-cancel"), ["e2e-big-cancel.jpg"]);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "uploading over an existing image asks first and replaces only when confirmed",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      await forget("e2e-rep-");
      await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      await openSection(page, "Upload");
      await page.locator("#upload-files").setInputFiles([
        file("e2e-rep-1.jpg", "image/jpeg", JPEG),
      ]);
      await page.getByRole("button", { name: "Upload 1 file" }).click();
      await settledState(page, "e2e-rep-1.jpg", "done");
      const before =
        await testDb()`select etag from public.s3_image_cache where filename = 'e2e-rep-1.jpg'`;

      await page.getByRole("button", { name: "Clear finished" }).click();
      await page.locator("#upload-files").setInputFiles([
        file("e2e-rep-1.jpg", "image/jpeg", jpegVariant("second version")),
      ]);
      await page.getByRole("button", { name: "Upload 1 file" }).click();
      const question = await settledState(page, "e2e-rep-1.jpg", "exists");
      assert.match(question, /already/i);
      // Nothing was replaced while the question is open.
      const during =
        await testDb()`select etag from public.s3_image_cache where filename = 'e2e-rep-1.jpg'`;
      assert.equal(during[0].etag, before[0].etag);
      await screenshot(page, "04-upload-replace-question");

      await uploadRow(page, "e2e-rep-1.jpg").getByRole("button", { name: "Replace" }).click();
      assert.match(await settledState(page, "e2e-rep-1.jpg", "done"), /^Replaced "e2e-rep-1\.jpg"/);
      const after =
        await testDb()`select etag from public.s3_image_cache where filename = 'e2e-rep-1.jpg'`;
      assert.notEqual(after[0].etag, before[0].etag);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test("a file name made of markup is shown as text, never run", browserTest, async () => {
  const info = stackInfo();
  const name = "<img src=x onerror=alert(1)>.jpg";
  const { page, close, dialogs, pageErrors } = await openAdminUi();
  try {
    await forget(name);
    await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
    await openSection(page, "Upload");
    await page.locator("#upload-files").setInputFiles([file(name, "image/jpeg", JPEG)]);
    await page.getByRole("button", { name: "Upload 1 file" }).click();
    assert.match(
      await settledState(page, name, "done"),
      /Stored as "<img src=x onerror=alert\(1\)>\.jpg"/,
    );

    await openSection(page, "Browse");
    await page.getByLabel("Name starts with").fill("<img");
    await page.getByRole("button", { name: "Search" }).click();
    const cell = page.getByRole("button", { name, exact: true });
    await cell.waitFor();
    assert.equal(await cell.innerText(), name);
    await cell.click();
    await page.getByRole("heading", { name, exact: true }).waitFor();
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
    await closeTestDb();
  }
});

Deno.test("a picked folder adds every file in it to the list", browserTest, async () => {
  const info = stackInfo();
  const folder = await Deno.makeTempDir({ prefix: "s3-image-cache-folder-" });
  const { page, close } = await openAdminUi();
  try {
    await forget("e2e-dir-");
    await Deno.writeFile(`${folder}/e2e-dir-1.jpg`, JPEG);
    await Deno.writeFile(`${folder}/e2e-dir-2.jpg`, jpegVariant("two"));
    await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
    await openSection(page, "Upload");
    await page.locator("#upload-folder").setInputFiles(folder);
    await page.getByRole("button", { name: "Upload 2 files" }).click();
    await settledState(page, "e2e-dir-1.jpg", "done");
    await settledState(page, "e2e-dir-2.jpg", "done");
    assert.deepEqual(await indexed("e2e-dir-"), ["e2e-dir-1.jpg", "e2e-dir-2.jpg"]);
  } finally {
    await close();
    await closeTestDb();
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("files dropped on the drop zone join the list", browserTest, async () => {
  const info = stackInfo();
  const { page, close } = await openAdminUi();
  try {
    await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
    await openSection(page, "Upload");
    const transfer = await page.evaluateHandle((bytes) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], "e2e-drop.jpg", { type: "image/jpeg" }));
      return data;
    }, [...JPEG]);
    await page.locator(".dropzone").dispatchEvent("drop", { dataTransfer: transfer });
    await uploadRow(page, "e2e-drop.jpg").and(page.locator('[data-state="ready"]')).waitFor();
    assert.equal(await page.getByRole("button", { name: "Upload 1 file" }).isEnabled(), true);
  } finally {
    await close();
  }
});
