/**
 * Sample product images for the local stack, uploaded through the real `upload-to-s3` function
 * (so seeding exercises the same path a store manager uses). `npm run seed` against a running
 * stack, or `npm start -- --seed`.
 *
 * @module
 */
import { samplePng } from "./lib/png.ts";
import { REPO_ROOT } from "./stack/migrations.ts";
import { parseDotEnv, type StackInfo } from "./stack/stack.ts";

/** How many sample images the seed loads. */
export const SAMPLE_COUNT = 36;

/** Uploads the sample images (14000.png, 14001.png, …); returns how many were stored. */
export async function seedSampleImages(
  info: Pick<StackInfo, "FUNCTIONS_URL" | "SERVICE_ROLE_KEY">,
  count = SAMPLE_COUNT,
): Promise<number> {
  let stored = 0;
  for (let i = 0; i < count; i++) {
    const filename = `${14000 + i}.png`;
    const form = new FormData();
    form.set(
      "file",
      new File([samplePng(i) as Uint8Array<ArrayBuffer>], filename, { type: "image/png" }),
    );
    form.set("filename", filename);
    form.set("replace", "true");
    const response = await fetch(`${info.FUNCTIONS_URL}/upload-to-s3`, {
      method: "POST",
      headers: { authorization: `Bearer ${info.SERVICE_ROLE_KEY}` },
      body: form,
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(`Seeding ${filename} failed: ${response.status} ${JSON.stringify(body)}`);
    }
    stored++;
  }
  return stored;
}

if (import.meta.main) {
  try {
    const info = parseDotEnv(await Deno.readTextFile(`${REPO_ROOT}.local/status.env`));
    const count = await seedSampleImages(info as unknown as StackInfo);
    console.log(`Seeded ${count} sample product images.`);
  } catch (error) {
    console.error(
      error instanceof Deno.errors.NotFound
        ? "The local stack is not running (start it with `npm start`)."
        : error instanceof Error
        ? error.message
        : error,
    );
    Deno.exit(1);
  }
}
