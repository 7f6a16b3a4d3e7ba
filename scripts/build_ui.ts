/**
 * Builds the admin UI (`admin-ui/`) into a static folder with esbuild: `index.html`,
 * `app.css`, `app.js` (Preact + supabase-js, minified) and, for a static host, `config.js`;
 * beside it the embeddable components, `embed.js` (one ES module, its shadow roots styled with
 * `app.css`), and their demo host page (`embed-demo.html` + `embed-demo.js`, docs/embed.md).
 *
 * `npm run build:ui` — production build into `admin-ui/dist/`, configured by env:
 * `SUPABASE_URL` and `SUPABASE_PUBLISHABLE_KEY` (or the legacy `SUPABASE_ANON_KEY`); optional
 * `UI_OUT_DIR`. Upload the folder to any static host. Prints each file's raw and gzipped size.
 *
 * The local stack calls {@linkcode buildUi} without a config (it serves `/config.js` itself).
 *
 * @module
 */
import * as esbuild from "esbuild";
import { REPO_ROOT } from "./stack/migrations.ts";

/** The UI's source folder. */
export const UI_SOURCE_DIR = `${REPO_ROOT}admin-ui`;
/** Where the build goes unless told otherwise (git-ignored). */
export const UI_DIST_DIR = `${REPO_ROOT}admin-ui/dist`;

/** A value of `window.S3_IMAGE_CACHE_CONFIG` (public values only: never a secret key). */
export interface UiConfigValues {
  supabaseUrl: string;
  anonKey: string;
  directUploadBytes?: number;
  localAccounts?: Array<{ email: string; password: string; role: string }>;
}

/** The body of `config.js` for `config`. */
export function configScript(config: UiConfigValues): string {
  return `window.S3_IMAGE_CACHE_CONFIG = ${JSON.stringify(config)};\n`;
}

/** One built file and its sizes. */
export interface BuiltFile {
  name: string;
  bytes: number;
  gzipBytes: number;
}

/** Options of {@linkcode buildUi}. */
export interface BuildUiOptions {
  /** Default {@linkcode UI_DIST_DIR}. */
  outDir?: string;
  /** Written as `config.js` when given. */
  config?: UiConfigValues;
}

async function gzipSize(bytes: Uint8Array): Promise<number> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/**
 * `app.css` for a shadow root: `:root` becomes `:host`, and each colour or radius it defines is
 * read from a `--s3ic-*` custom property first, so a host page themes the components
 * (`s3-product-image { --s3ic-accent: #7a1fa2 }`) without any of its own rules reaching inside.
 */
export function shadowCss(appCss: string): string {
  return appCss.replace(/:root\s*\{([^}]*)\}/, (_whole, body: string) => {
    const themed = body.replace(
      /--([\w-]+):\s*([^;]+);/g,
      (_line, name: string, value: string) => `--${name}: var(--s3ic-${name}, ${value.trim()});`,
    );
    return `:host {${themed}}`;
  });
}

/** Builds the app into `outDir`; returns the files written with their sizes. */
export async function buildUi(options: BuildUiOptions = {}): Promise<BuiltFile[]> {
  const outDir = options.outDir ?? UI_DIST_DIR;
  await Deno.mkdir(outDir, { recursive: true });
  try {
    const appCss = await Deno.readTextFile(`${UI_SOURCE_DIR}/app.css`);
    await esbuild.build({
      // Three self-contained bundles (no shared chunks): embed.js must stay one file a host loads.
      entryPoints: {
        app: `${UI_SOURCE_DIR}/src/main.tsx`,
        embed: `${UI_SOURCE_DIR}/src/embed/embed.ts`,
        "embed-demo": `${UI_SOURCE_DIR}/src/embed/demo/host_page.ts`,
      },
      outdir: outDir,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: ["chrome109", "firefox115", "safari16"],
      minify: true,
      sourcemap: "linked",
      jsx: "automatic",
      jsxImportSource: "preact",
      define: {
        "process.env.NODE_ENV": '"production"',
        __S3IC_ADMIN_CSS__: JSON.stringify(shadowCss(appCss)),
      },
      legalComments: "none",
      logLevel: "error",
      absWorkingDir: REPO_ROOT,
    });
  } finally {
    await esbuild.stop();
  }
  await Deno.copyFile(`${UI_SOURCE_DIR}/index.html`, `${outDir}/index.html`);
  await Deno.copyFile(`${UI_SOURCE_DIR}/app.css`, `${outDir}/app.css`);
  await Deno.copyFile(`${UI_SOURCE_DIR}/embed-demo.html`, `${outDir}/embed-demo.html`);
  if (options.config) await Deno.writeTextFile(`${outDir}/config.js`, configScript(options.config));
  const files: BuiltFile[] = [];
  for (
    const name of [
      "index.html",
      "app.css",
      "app.js",
      "embed.js",
      "embed-demo.html",
      "embed-demo.js",
      ...(options.config ? ["config.js"] : []),
    ]
  ) {
    const bytes = await Deno.readFile(`${outDir}/${name}`);
    files.push({ name, bytes: bytes.byteLength, gzipBytes: await gzipSize(bytes) });
  }
  return files;
}

async function newestSourceTime(dir: string): Promise<number> {
  let newest = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      if (entry.name !== "dist") newest = Math.max(newest, await newestSourceTime(path));
    } else {
      newest = Math.max(newest, (await Deno.stat(path)).mtime?.getTime() ?? 0);
    }
  }
  return newest;
}

/** Whether `outDir` lacks a build or is older than any UI source file. */
export async function uiBuildIsStale(outDir = UI_DIST_DIR): Promise<boolean> {
  try {
    const built = (await Deno.stat(`${outDir}/app.js`)).mtime?.getTime() ?? 0;
    return (await newestSourceTime(UI_SOURCE_DIR)) > built;
  } catch {
    return true;
  }
}

/** The production config from env; throws naming what is missing. */
export function configFromEnv(env: (name: string) => string | undefined): UiConfigValues {
  const supabaseUrl = env("SUPABASE_URL");
  const anonKey = env("SUPABASE_PUBLISHABLE_KEY") ?? env("SUPABASE_ANON_KEY");
  const missing = [
    ...(supabaseUrl ? [] : ["SUPABASE_URL"]),
    ...(anonKey ? [] : ["SUPABASE_PUBLISHABLE_KEY (or SUPABASE_ANON_KEY)"]),
  ];
  if (missing.length) throw new Error(`Cannot build the admin UI: set ${missing.join(" and ")}`);
  if (/^sb_secret_/.test(anonKey!) || /service_role/.test(decodeJwtRole(anonKey!))) {
    throw new Error("Cannot build the admin UI: the key is a secret key; use the publishable key");
  }
  const direct = env("UI_DIRECT_UPLOAD_BYTES");
  return {
    supabaseUrl: supabaseUrl!,
    anonKey: anonKey!,
    ...(direct ? { directUploadBytes: Number(direct) } : {}),
  };
}

/** The `role` claim of a legacy JWT key, or "" (a publishable key is not a JWT). */
function decodeJwtRole(key: string): string {
  try {
    const payload = key.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    return String(JSON.parse(atob(payload)).role ?? "");
  } catch {
    return "";
  }
}

if (import.meta.main) {
  try {
    const config = configFromEnv((name) => Deno.env.get(name) || undefined);
    const outDir = Deno.env.get("UI_OUT_DIR") ?? UI_DIST_DIR;
    const files = await buildUi({ outDir, config });
    console.log(`Admin UI built into ${outDir}:`);
    for (const file of files) {
      console.log(
        `  ${file.name.padEnd(15)} ${String(file.bytes).padStart(8)} B  ${
          String(file.gzipBytes).padStart(7)
        } B gzipped`,
      );
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
