/**
 * The functions deploy with exactly the package versions the tests ran.
 *
 * Why the import map and not a per-function `deno.json`: `supabase functions deploy` reads
 * `supabase/functions/import_map.json` (named in config.toml), the local functions host and
 * `deno check` read the same file through the root `deno.json`, so one file serves all three.
 * Per-function `deno.json` files would be two more copies to keep equal. What the tests run is
 * `node_modules`, installed from `package-lock.json`; this test fails as soon as the map names a
 * range or a version other than the lock's.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** `npm:<name>@<version>[/subpath]` split into name and version. */
export function parseNpmSpecifier(specifier: string): { name: string; version: string } | null {
  const match = /^npm:(@?[^@/]+(?:\/[^@/]+)?)@([^/]+)(?:\/.*)?$/.exec(specifier);
  return match ? { name: match[1], version: match[2] } : null;
}

/** Every map entry whose version is not exactly the lock's installed version, as sentences. */
export function versionDrift(
  imports: Record<string, string>,
  lockPackages: Record<string, { version?: string }>,
): string[] {
  const problems: string[] = [];
  for (const [bare, specifier] of Object.entries(imports)) {
    const parsed = parseNpmSpecifier(specifier);
    if (!parsed) {
      problems.push(`"${bare}" maps to "${specifier}", not an npm:<name>@<version> specifier`);
      continue;
    }
    const installed = lockPackages[`node_modules/${parsed.name}`]?.version;
    if (!installed) {
      problems.push(`"${parsed.name}" is not in package-lock.json`);
    } else if (parsed.version !== installed) {
      problems.push(
        `"${bare}" pins "${parsed.version}" but package-lock.json installs "${installed}"`,
      );
    }
  }
  return problems;
}

Deno.test("import_map.json pins every package at exactly package-lock.json's version", async () => {
  const map = JSON.parse(
    await Deno.readTextFile(new URL("supabase/functions/import_map.json", ROOT)),
  ) as { imports: Record<string, string> };
  const lock = JSON.parse(await Deno.readTextFile(new URL("package-lock.json", ROOT))) as {
    packages: Record<string, { version?: string }>;
  };
  assert.ok(Object.keys(map.imports).length >= 5);
  assert.deepEqual(versionDrift(map.imports, lock.packages), []);
});

Deno.test("versionDrift() names a caret range and a version the lock does not install", () => {
  const lock = {
    "node_modules/zod": { version: "4.6.7" },
    "node_modules/jose": { version: "6.2.18" },
  };
  assert.deepEqual(
    versionDrift({ zod: "npm:zod@^4.6.7", jose: "npm:jose@6.2.17", x: "jsr:@std/x" }, lock),
    [
      `"zod" pins "^4.6.7" but package-lock.json installs "4.6.7"`,
      `"jose" pins "6.2.17" but package-lock.json installs "6.2.18"`,
      `"x" maps to "jsr:@std/x", not an npm:<name>@<version> specifier`,
    ],
  );
  assert.deepEqual(versionDrift({ zod: "npm:zod@4.6.7" }, lock), []);
  assert.deepEqual(parseNpmSpecifier("npm:@aws-sdk/client-s3@3.1164.0"), {
    name: "@aws-sdk/client-s3",
    version: "3.1164.0",
  });
});
