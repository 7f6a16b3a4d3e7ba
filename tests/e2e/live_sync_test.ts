/**
 * The statistics screen's live sync card in Chromium: after bucket events are posted to the
 * events endpoint (as S3, MinIO or the local emulator post them), it shows live sync on, the last
 * event applied and the last hour's counts, matching `GET /stats`.
 */
import assert from "node:assert/strict";
import { createSequencer, s3Record } from "../../scripts/stack/s3_event_record.mjs";
import type { StatsAnswer } from "../../supabase/functions/_shared/contract.ts";
import { fixture } from "../support/bytes.ts";
import { testStorage } from "../support/s3.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import { openAdminUi, screenshot, signIn } from "./browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const RUN = crypto.randomUUID().slice(0, 6);
const sequencer = createSequencer();

/** Posts one S3 notification record to the events endpoint, as a bucket's sender does. */
async function postEvent(body: string): Promise<number> {
  const info = stackInfo();
  const response = await fetch(info.EVENTS_URL, {
    method: "POST",
    headers: { authorization: `Bearer ${info.EVENTS_SECRET}`, "content-type": "application/json" },
    body,
  });
  await response.body?.cancel();
  return response.status;
}

const created = (key: string, size: number) =>
  JSON.stringify({
    Records: [s3Record({
      bucket: stackInfo().S3_BUCKET,
      key,
      eventName: "ObjectCreated:Put",
      size,
      eTag: "0123456789abcdef0123456789abcdef",
      sequencer: sequencer(),
    })],
  });

async function liveSync(): Promise<StatsAnswer["live_sync"]> {
  const { status, body } = await callFunction("s3-image-service/stats", {
    token: stackInfo().ADMIN_TOKEN,
  });
  assert.equal(status, 200, JSON.stringify(body));
  return (body as unknown as StatsAnswer).live_sync;
}

Deno.test(
  "statistics show live sync: on, the last event applied, the last hour's counts",
  browserTest,
  async () => {
    const info = stackInfo();
    const before = (await liveSync()).last_hour;
    const name = `e2e-live-${RUN}.jpg`;
    const jpeg = fixture("product.jpg");
    // The object is in the bucket too, so the index stays true for the tests after this one.
    await testStorage().put(name, jpeg, { contentType: "image/jpeg" });
    assert.equal(await postEvent(created(`e2e-live-${RUN}-notes.txt`, 5)), 200, "refused name");
    assert.equal(await postEvent(created(name, jpeg.length)), 200, "applied");
    assert.equal(await postEvent('{"Records": "not a list"}'), 400, "malformed");

    const { page, close } = await openAdminUi();
    try {
      await signIn(page, info.ADMIN_EMAIL, info.ADMIN_PASSWORD);
      const card = page.getByTestId("live-sync");
      await card.waitFor();
      assert.match(await card.innerText(), /Bucket events:\s*on/);
      assert.match(await page.getByTestId("live-sync-last").innerText(), new RegExp(`${name}`));
      const shown = async (id: string) =>
        Number((await page.getByTestId(id).innerText()).replaceAll(",", ""));
      // Other tests' events may land meanwhile: at least ours, and what GET /stats says now.
      assert.ok(await shown("live-sync-applied") >= before.applied + 1);
      assert.ok(await shown("live-sync-refused") >= before.refused + 1);
      assert.ok(await shown("live-sync-malformed") >= before.malformed + 1);
      const now = (await liveSync()).last_hour;
      assert.ok(await shown("live-sync-applied") <= now.applied);
      await screenshot(page, "live-sync-stats");
    } finally {
      await close();
    }
  },
);
