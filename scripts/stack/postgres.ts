/**
 * A private PostgreSQL cluster started from the system's binaries (Debian `postgresql`), used by
 * `npm start` and by every test tier that needs a database. As root, the cluster runs as the
 * `postgres` user because `initdb` refuses root.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { chownToPostgres, commandExists, isRoot, MissingPrerequisite, run } from "./process.ts";

const PG_BIN = Deno.env.get("PG_BIN") ?? "/usr/lib/postgresql/15/bin";
const BOOTSTRAP_SQL = fromFileUrl(new URL("./supabase_bootstrap.sql", import.meta.url));

/** Where a cluster keeps its files and listens. */
export interface ClusterOptions {
  /** Data directory; created and initialised on first use. */
  dataDir: string;
  /** Directory for the Unix socket (must be writable by the cluster's user). */
  socketDir: string;
  /** TCP port on 127.0.0.1. */
  port: number;
}

/** A running cluster. */
export interface RunningCluster {
  /** `postgresql://postgres@127.0.0.1:PORT/postgres` (trust auth on loopback). */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Runs `args` as the cluster's user: `postgres` when we are root, ourselves otherwise. */
function asClusterUser(args: string[]): string[] {
  return isRoot() ? ["runuser", "-u", "postgres", "--", ...args] : args;
}

async function checkPrerequisites(): Promise<void> {
  try {
    await Deno.stat(`${PG_BIN}/initdb`);
  } catch {
    throw new MissingPrerequisite(
      `PostgreSQL server binaries not found in ${PG_BIN}`,
      "apt-get install -y postgresql   (or set PG_BIN to the folder holding initdb and pg_ctl)",
    );
  }
  if (!(await commandExists("psql"))) {
    throw new MissingPrerequisite("psql not found", "apt-get install -y postgresql-client");
  }
}

async function isInitialised(dataDir: string): Promise<boolean> {
  try {
    await Deno.stat(`${dataDir}/PG_VERSION`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Initialises (first time only) and starts a cluster, then applies the Supabase bootstrap
 * (roles, `auth.*`, schema `extensions`). A cluster left running by a killed earlier run is
 * stopped first so the port and data are ours.
 */
export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  await checkPrerequisites();
  const { dataDir, socketDir, port } = options;
  await Deno.mkdir(socketDir, { recursive: true });
  await chownToPostgres(socketDir);

  if (!(await isInitialised(dataDir))) {
    await Deno.mkdir(dataDir, { recursive: true });
    await chownToPostgres(dataDir);
    await run(asClusterUser([
      `${PG_BIN}/initdb`,
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
    ]));
  }

  await stopIfRunning(dataDir);
  const logFile = `${dataDir}/server.log`;
  try {
    await run(asClusterUser([
      `${PG_BIN}/pg_ctl`,
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
  await run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", BOOTSTRAP_SQL]);
  return { url, port, stop: () => stopIfRunning(dataDir) };
}

/** Stops the cluster in `dataDir` if its postmaster is alive; a no-op otherwise. */
export async function stopIfRunning(dataDir: string): Promise<void> {
  const status = await run(asClusterUser([`${PG_BIN}/pg_ctl`, "-D", dataDir, "status"]), {
    allowFailure: true,
  });
  if (status.code !== 0) return;
  await run(asClusterUser([`${PG_BIN}/pg_ctl`, "-D", dataDir, "-m", "fast", "-w", "stop"]));
}
