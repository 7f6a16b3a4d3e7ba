/**
 * The admin screens in Chromium: quick-add, browse and remove, reconcile, rebuild with live
 * progress, the held state of a mass removal and its force, and what a manager may not do.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { fixture } from "../support/bytes.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { testStorage } from "../support/s3.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import { openAdminUi, openSection, screenshot, signIn } from "./browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const JPEG = fixture("product.jpg");

/** Writes an object straight into the bucket, behind the index's back. */
async function putObject(name: string): Promise<void> {
  await testStorage().put(name, JPEG, { contentType: "image/jpeg" });
}

async function isIndexed(name: string): Promise<boolean> {
  const rows = await testDb()`select 1 from public.s3_image_cache where filename = ${name}`;
  return rows.length === 1;
}

/** Every key of the bucket (all pages). */
async function bucketKeys(): Promise<Set<string>> {
  const keys = new Set<string>();
  let token: string | undefined;
  do {
    const page = await testStorage().listPage({ token });
    for (const object of page.objects) keys.add(object.key);
    token = page.nextToken;
  } while (token);
  return keys;
}

/** What a rebuild must insert and remove now: the bucket's image keys against the index. */
async function expectedDelta(): Promise<{ inserted: number; removed: number }> {
  const keys = [...await bucketKeys()].filter((key) => !key.includes("/"));
  const rows = await testDb()<{ filename: string }[]>`select filename from public.s3_image_cache`;
  const indexed = new Set(rows.map((row) => row.filename));
  return {
    inserted: keys.filter((key) => !indexed.has(key)).length,
    removed: [...indexed].filter((name) => !keys.includes(name)).length,
  };
}

/** Cancels a job left running (a dry run waiting for review), so each test starts its own. */
async function cancelRunningJob(): Promise<void> {
  const token = stackInfo().ADMIN_TOKEN;
  const { body } = await callFunction("s3-image-service/rebuild", { token });
  const job = body.job as { id: number; status: string } | null;
  if (job?.status !== "running") return;
  await callFunction(`s3-image-service/rebuild/${job.id}/cancel`, { token, method: "POST" });
}

/** The id of the newest job (rebuild or reconcile), 0 when none ran. */
async function latestJobId(): Promise<number> {
  const [{ id }] = await testDb()<{ id: number }[]>`
    select coalesce(max(id), 0)::int as id from public.s3_cache_rebuilds`;
  return id;
}

/** Waits until the screen follows a job newer than `previous` and it has settled; its status. */
async function settledNewJob(page: Page, previous: number): Promise<string> {
  const status = page.locator(
    `.job-progress:not([data-job-id="${previous}"]) [data-status]:not([data-status="running"])`,
  );
  await status.waitFor({ timeout: 60_000 });
  return (await status.getAttribute("data-status")) ?? "";
}

async function figure(page: Page, testId: string): Promise<number> {
  return Number((await page.getByTestId(testId).first().innerText()).replaceAll(",", ""));
}

Deno.test("a manager sees no usable admin-only control", browserTest, async () => {
  const info = stackInfo();
  const { page, close } = await openAdminUi();
  try {
    await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
    await openSection(page, "Rebuild");
    await page.getByText("Only admins can rebuild the index.").waitFor();
    assert.equal(await page.getByRole("button", { name: "Rebuild index" }).count(), 0);
    await screenshot(page, "05-rebuild-as-manager");

    await openSection(page, "Reconcile");
    await page.getByText("Only admins can reconcile").waitFor();
    assert.equal(await page.getByRole("button", { name: "Dry run" }).count(), 0);

    await openSection(page, "Browse");
    await page.getByRole("table").waitFor();
    assert.equal(await page.getByRole("button", { name: /Remove selected/ }).count(), 0);
    assert.equal(await page.getByRole("checkbox").count(), 0);
  } finally {
    await close();
  }
});

Deno.test(
  "quick-add indexes a name the bucket holds and says why it refuses one it lacks",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      await putObject("e2e-qa-present.jpg");
      await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      await openSection(page, "Browse");

      await page.getByLabel("File name").fill("e2e-qa-present.jpg");
      await page.getByRole("button", { name: "Add to index" }).click();
      const answer = page.getByTestId("quick-add-answer");
      await answer.waitFor();
      assert.match(
        await answer.innerText(),
        /Added "e2e-qa-present\.jpg" to the index \(.*image\/jpeg\)/,
      );
      assert.equal(await isIndexed("e2e-qa-present.jpg"), true);

      await page.getByLabel("File name").fill("e2e-qa-absent.jpg");
      await page.getByRole("button", { name: "Add to index" }).click();
      const refusal = page.locator(".quick-add").getByRole("alert");
      await refusal.waitFor();
      assert.match(await refusal.innerText(), /e2e-qa-absent\.jpg/);
      assert.match(await refusal.innerText(), /bucket/i);
      assert.equal(await isIndexed("e2e-qa-absent.jpg"), false);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "an admin browses by prefix, previews with a signed URL, removes one and many",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      for (const name of ["e2e-br-1.jpg", "e2e-br-2.jpg", "e2e-br-3.jpg"]) {
        await putObject(name);
        await testDb()`select public.add_file_to_s3_cache(${name})`;
      }
      await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
      await openSection(page, "Browse");
      await page.getByLabel("Name starts with").fill("e2e-br-");
      await page.getByRole("button", { name: "Search" }).click();
      // The table first shows the whole index, then the search's answer.
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll<HTMLElement>("tbody tr")];
        return rows.length > 0 && rows.every((row) => row.dataset.filename?.startsWith("e2e-br-"));
      });
      assert.equal(await page.locator("tbody tr").count(), 3);

      await page.getByRole("button", { name: "e2e-br-1.jpg", exact: true }).click();
      const url = await page.getByLabel("Image URL").inputValue();
      assert.match(url, /e2e-br-1\.jpg/);
      await page.getByText(/Signed link: works until/).waitFor();
      // The signed URL really serves the image.
      const response = await fetch(url);
      assert.equal(response.status, 200);
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), JPEG);
      await screenshot(page, "06-browse-preview");

      await page.getByRole("button", { name: "Remove from index…" }).click();
      await page.getByLabel("Also delete the image from the bucket").check();
      await page.getByRole("dialog").getByRole("button", { name: "Remove" }).click();
      await page.getByTestId("remove-report").filter({ hasText: "Removed 1 of 1." }).waitFor();
      assert.equal(await isIndexed("e2e-br-1.jpg"), false);
      assert.equal(await testStorage().head("e2e-br-1.jpg"), null);

      await page.getByLabel("Select e2e-br-2.jpg").check();
      await page.getByLabel("Select e2e-br-3.jpg").check();
      await page.getByRole("button", { name: "Remove selected (2)" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Remove" }).click();
      await page.getByTestId("remove-report").filter({ hasText: "Removed 2 of 2." }).waitFor();
      assert.equal(await isIndexed("e2e-br-2.jpg"), false);
      // Without the box ticked the objects stay in the bucket.
      assert.notEqual(await testStorage().head("e2e-br-2.jpg"), null);
      await testStorage().delete("e2e-br-2.jpg");
      await testStorage().delete("e2e-br-3.jpg");
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "reconcile shows both directions as a dry run, then applies them",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      await cancelRunningJob();
      await testDb()`delete from public.s3_image_cache where filename = 'e2e-rc-new.jpg'`;
      await putObject("e2e-rc-new.jpg");
      await testDb()`select public.add_file_to_s3_cache('e2e-rc-ghost.jpg')`;
      await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
      await openSection(page, "Reconcile");
      await page.getByRole("button", { name: "Dry run" }).click();
      const inBucket = page.locator(".card", { hasText: "In the bucket, not in the index" });
      await inBucket.getByText("e2e-rc-new.jpg", { exact: true }).waitFor();
      const inIndex = page.locator(".card", { hasText: "In the index, not in the bucket" });
      await inIndex.getByText("e2e-rc-ghost.jpg", { exact: true }).waitFor();
      await screenshot(page, "07-reconcile-dry-run");
      // The dry run waits for review: a reload finds it again.
      await page.reload();
      await inIndex.getByText("e2e-rc-ghost.jpg", { exact: true }).waitFor();
      // A dry run changes nothing.
      assert.equal(await isIndexed("e2e-rc-new.jpg"), false);
      assert.equal(await isIndexed("e2e-rc-ghost.jpg"), true);

      await page.getByRole("button", { name: "Apply" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Apply" }).click();
      await page.locator('[data-status="succeeded"]').first().waitFor();
      assert.equal(await isIndexed("e2e-rc-new.jpg"), true);
      assert.equal(await isIndexed("e2e-rc-ghost.jpg"), false);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "an admin rebuilds the index and watches it reach succeeded with the right counts",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close, pageErrors } = await openAdminUi();
    try {
      await testDb()`delete from public.s3_image_cache where filename like 'e2e-rb-%'`;
      for (let i = 1; i <= 5; i++) await putObject(`e2e-rb-${i}.jpg`);
      const expected = await expectedDelta();
      assert.ok(expected.inserted >= 5);
      const keys = (await bucketKeys()).size;

      const previous = await latestJobId();
      await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
      await openSection(page, "Rebuild");
      await page.getByRole("button", { name: "Rebuild index" }).click();
      // Nothing starts before the confirmation.
      await page.getByRole("dialog").getByRole("heading", { name: "Rebuild the index?" }).waitFor();
      await page.getByRole("dialog").getByRole("button", { name: "Start rebuild" }).click();

      assert.equal(await settledNewJob(page, previous), "succeeded");
      const bar = page.getByRole("progressbar", { name: "Rebuild progress" });
      assert.equal(await bar.getAttribute("value"), "100");
      assert.equal(await figure(page, "job-listed"), keys);
      assert.equal(await figure(page, "job-inserted"), expected.inserted);
      assert.equal(await figure(page, "job-removed"), expected.removed);
      for (let i = 1; i <= 5; i++) assert.equal(await isIndexed(`e2e-rb-${i}.jpg`), true);
      await screenshot(page, "08-rebuild-succeeded");

      // Statistics name the rebuild as the last one.
      await openSection(page, "Statistics");
      await page.locator('.job-summary [data-status="succeeded"]').waitFor();
      await page.locator(".job-summary", { hasText: `by ${info.ADMIN_EMAIL}` }).waitFor();
      await screenshot(page, "09-statistics");
      assert.deepEqual(pageErrors, []);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "a rebuild already running when the page opens is picked up and followed to its end",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      const started = await callFunction("s3-image-service/rebuild", {
        token: info.ADMIN_TOKEN,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(started.status, 202);
      const id = (started.body.job as { id: number }).id;
      // A manager watches it: the page finds the job by itself.
      await openSection(page, "Rebuild");
      const followed = page.locator(`.job-progress[data-job-id="${id}"]`);
      await followed.waitFor();
      await followed.locator('[data-status="succeeded"]').waitFor({ timeout: 60_000 });
    } finally {
      await close();
    }
  },
);

Deno.test(
  "a rebuild that would remove most of the index is held until an admin forces it",
  browserTest,
  async () => {
    const info = stackInfo();
    const { page, close } = await openAdminUi();
    try {
      // Index entries the bucket does not have: more than half of the index.
      const [{ n }] = await testDb()<{ n: number }[]>`
      select count(*)::int as n from public.s3_image_cache`;
      const ghosts = n + 20;
      await testDb()`
      insert into public.s3_image_cache (filename)
      select 'e2e-ghost-' || g || '.jpg' from generate_series(1, ${ghosts}::int) as g
      on conflict do nothing`;
      const expected = await expectedDelta();

      const previous = await latestJobId();
      await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
      await openSection(page, "Rebuild");
      await page.getByRole("button", { name: "Rebuild index" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Start rebuild" }).click();

      assert.equal(await settledNewJob(page, previous), "needs_confirmation");
      await page.getByTestId("held").waitFor();
      assert.equal(await figure(page, "would-remove"), expected.removed);
      await screenshot(page, "10-rebuild-held");
      // Held means nothing changed.
      assert.equal(await isIndexed("e2e-ghost-1.jpg"), true);

      await page.getByRole("button", { name: "Force finish" }).click();
      await page.getByRole("dialog").getByRole("button", { name: /^Remove .* entries$/ }).click();
      // The forced finish may be the held job itself or a new one: either way it must succeed.
      const succeeded = page.locator('.job-progress [data-status="succeeded"]');
      const refused = page.locator("main").getByRole("alert");
      await succeeded.or(refused).first().waitFor({ timeout: 60_000 });
      assert.equal(await refused.count(), 0, await refused.allInnerTexts().then(String));
      assert.equal(await figure(page, "job-removed"), expected.removed);
      assert.equal(await isIndexed("e2e-ghost-1.jpg"), false);
    } finally {
      await close();
      await closeTestDb();
    }
  },
);

Deno.test(
  "statistics show images by type and the newest ones, names as text",
  browserTest,
  async () => {
    const info = stackInfo();
    const name = `e2e-stats-<b onclick="x">${crypto.randomUUID().slice(0, 6)}.jpg`;
    await putObject(name);
    const added = await callFunction("s3-image-service/files", {
      token: info.ADMIN_TOKEN,
      method: "POST",
      body: JSON.stringify({ filename: name }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const [{ jpegs }] = await testDb()<{ jpegs: number }[]>`
      select count(*)::int as jpegs from public.s3_image_cache where content_type = 'image/jpeg'`;
    const { page, close } = await openAdminUi();
    try {
      await signIn(page, info.MANAGER_EMAIL, info.MANAGER_PASSWORD);
      const byType = page.getByTestId("stats-by-type");
      await byType.waitFor();
      const jpegRow = byType.getByRole("row").filter({ hasText: "image/jpeg" });
      assert.equal(await jpegRow.getByRole("cell").nth(1).innerText(), jpegs.toLocaleString("en"));
      const newest = page.getByTestId("stats-newest");
      assert.equal(await newest.locator("li .filename").first().innerText(), name);
      assert.equal(await newest.locator("b").count(), 0, "the name's markup stays text");
      await screenshot(page, "01b-statistics-breakdown");
    } finally {
      await close();
      await closeTestDb();
    }
  },
);
