/**
 * `npm start`: boots the whole local stack, prints its URLs and keys like `supabase start`, and
 * stops every process it started on Ctrl-C. Data persists in `.local/` between runs.
 *
 * Flags: `--seed` loads sample product images once the stack is up. `S3_LATENCY=aws npm start`
 * plays the functions' S3 across a network (docs/local-stack.md).
 *
 * @module
 */
import { describeLatencyProfile, parseLatencyProfile } from "./stack/latency_profile.ts";
import { REPO_ROOT } from "./stack/migrations.ts";
import { commandExists, MissingPrerequisite } from "./stack/process.ts";
import { formatStatusEnv, type LocalDatabase, type StackInfo, startStack } from "./stack/stack.ts";
import { seedSampleImages } from "./seed.ts";

const STATE_DIR = `${REPO_ROOT}.local`;
const STATUS_FILE = `${STATE_DIR}/status.env`;

function port(name: string, fallback: number): number {
  const value = Deno.env.get(name);
  return value ? Number(value) : fallback;
}

/** How a DBA reaches the database: the system's `psql` when there is one, else `npm run sql`. */
function psqlHint(dbUrl: string, hasPsql: boolean): string[] {
  if (hasPsql) return [`            psql: psql '${dbUrl}'`];
  return [
    `             SQL: npm run sql -- "select add_file_to_s3_cache('14000.jpg')"`,
    "                  (no psql here, and npm's Postgres ships none: apt-get install",
    "                  postgresql-client, or brew install libpq, for an interactive one)",
  ];
}

function banner(info: StackInfo, database: LocalDatabase | undefined, hasPsql: boolean): string {
  const relative = (path: string) =>
    path.startsWith(REPO_ROOT) ? path.slice(REPO_ROOT.length) : path;
  return [
    "",
    "s3-image-cache local stack is running.",
    "",
    `         API URL: ${info.API_URL}`,
    `   Functions URL: ${info.FUNCTIONS_URL}`,
    `    Admin UI URL: ${info.UI_URL}`,
    `          DB URL: ${info.DB_URL}`,
    ...(database
      ? [
        `        Postgres: ${database.version} (${database.source}), data in ${
          relative(database.dataDir)
        }`,
      ]
      : []),
    ...psqlHint(info.DB_URL, hasPsql),
    `     S3 endpoint: ${info.S3_ENDPOINT || "(AWS S3)"}`,
    `       S3 bucket: ${info.S3_BUCKET}`,
    ...(info.S3_PROXY_URL
      ? [`      S3 latency: ${describeLatencyProfile(parseLatencyProfile(info.S3_LATENCY))}`]
      : []),
    `  AWS access key: ${info.AWS_ACCESS_KEY}`,
    `      Events URL: ${info.EVENTS_URL}`,
    `   Events secret: ${info.EVENTS_SECRET}`,
    info.S3_ENDPOINT.startsWith("http://127.0.0.1")
      ? "                  (the emulator posts every put, copy and delete there: docs/events.md)"
      : "                  (point your bucket's notifications there: docs/events.md)",
    `        JWKS URL: ${info.JWKS_URL}`,
    ` Publishable key: ${info.PUBLISHABLE_KEY}`,
    `      Secret key: ${info.SECRET_KEY}`,
    "",
    `    Admin sign-in: ${info.ADMIN_EMAIL} / ${info.ADMIN_PASSWORD}`,
    `  Manager sign-in: ${info.MANAGER_EMAIL} / ${info.MANAGER_PASSWORD}`,
    `   Viewer sign-in: ${info.VIEWER_EMAIL} / ${info.VIEWER_PASSWORD} (no role)`,
    `    manager token: ${info.MANAGER_TOKEN}`,
    `      admin token: ${info.ADMIN_TOKEN}`,
    "",
    "Legacy keys (HS256, being retired on hosted):",
    `        anon key: ${info.ANON_KEY}`,
    `service_role key: ${info.SERVICE_ROLE_KEY}`,
    `      JWT secret: ${info.JWT_SECRET}`,
    "",
    "`npm run status` prints these as KEY=value lines. Ctrl-C stops everything.",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  await Deno.mkdir(STATE_DIR, { recursive: true });
  await Deno.chmod(STATE_DIR, 0o755);
  console.log("Starting Postgres, the S3 emulator, the functions host and the admin UI…");
  const stack = await startStack({
    stateDir: STATE_DIR,
    ports: {
      api: port("API_PORT", 54321),
      db: port("DB_PORT", 54322),
      ui: port("UI_PORT", 54323),
      s3: port("S3_PORT", 54329),
    },
  });
  await Deno.writeTextFile(STATUS_FILE, formatStatusEnv(stack.info), { mode: 0o600 });

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nStopping…");
    await stack.stop();
    await Deno.remove(STATUS_FILE).catch(() => {});
    console.log("Stopped.");
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);

  if (Deno.args.includes("--seed")) {
    const count = await seedSampleImages(stack.info);
    console.log(`Seeded ${count} sample product images.`);
  }
  console.log(banner(stack.info, stack.database, await commandExists("psql")));
  // performance.now() counts from this process's start, so Deno's own start-up is included.
  console.log(`Started in ${(performance.now() / 1000).toFixed(1)} s.`);
}

try {
  await main();
} catch (error) {
  if (error instanceof MissingPrerequisite) {
    console.error(`Cannot start: ${error.message}`);
  } else {
    console.error("Cannot start:", error instanceof Error ? error.message : error);
  }
  Deno.exit(1);
}
