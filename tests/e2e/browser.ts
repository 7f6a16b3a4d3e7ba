/**
 * Chromium for the admin UI tests: a fresh profile per test (no session leaks between them),
 * screenshots into `tests/e2e/artifacts/` (git-ignored), and the sign-in every test starts with.
 *
 * @module
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { stackInfo } from "../support/stack.ts";

/** Flags that work on a machine with no network but loopback, as root. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Where screenshots go. */
export const ARTIFACTS_DIR = new URL("./artifacts/", import.meta.url).pathname;

/** A browser with one page, and what went wrong in it (dialogs opened, page errors). */
export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Every `alert()`/`confirm()` the page opened: an injected script would land here. */
  dialogs: string[];
  /** Uncaught errors in the page. */
  pageErrors: string[];
  close(): Promise<void>;
}

/** Launches Chromium with a fresh profile and opens the admin UI (or `options.url`). */
export async function openAdminUi(
  options: { width?: number; height?: number; url?: string } = {},
): Promise<BrowserSession> {
  const profile = await Deno.makeTempDir({ prefix: "s3-image-cache-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: options.width ?? 1200, height: options.height ?? 860 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(20_000);
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.goto(options.url ?? stackInfo().UI_URL);
  return {
    context,
    page,
    dialogs,
    pageErrors,
    async close() {
      await context.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** Signs in through the form, as a person would, and waits for the account bar. */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("who").waitFor();
}

/** Opens a section by its tab. */
export async function openSection(page: Page, name: string): Promise<void> {
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name }).click();
  await page.getByRole("heading", { level: 2 }).first().waitFor();
}

/** Saves a full-page screenshot as `artifacts/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS_DIR}/${name}.png`, fullPage: true });
}
