/**
 * deploy-s3-function.sh against a fake `supabase` first on PATH (testdata/supabase records
 * every call and stands in for the database's Vault and pg_cron) and a local HTTP server standing
 * in for the project: its functions (health, /stats) and its Auth API (password sign-in).
 */
import assert from "node:assert/strict";
import { freePort, makeStackTempDir } from "../stack/process.ts";
import { EMULATOR_CREDENTIALS, startS3Emulator } from "../stack/s3.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const SCRIPT = `${ROOT}deploy-s3-function.sh`;
const FAKE_BIN = new URL("./testdata", import.meta.url).pathname;
const CHECK_SQL = `${ROOT}scripts/deploy/resumer_check.sql`;
const REF = "abcdefghijklmnopqrst";
const SECRET = "s3cr3t-Value-that-must-never-show";
const ACCESS_KEY = "AKIAREALKEYFORTEST01";
const ANON_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.anon-signature";
const SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.service-signature";
const PUBLISHABLE_KEY = "sb_publishable_Xy12-AbC_def";
const SECRET_API_KEY = "sb_secret_Zz98_secretvalue";
const ACCESS_TOKEN = "sbp_0123456789abcdef0123456789abcdef01234567";
const USER_EMAIL = "alice@example.com";
const USER_PASSWORD = 'Us3r"Pa55\\word';
const USER_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJyb2xlIjoiYXV0aGVudGljYXRlZCJ9.user-access-token";
const REFRESH_TOKEN = "user-refresh-token-0123";

const GOOD_ENV = [
  "# production secrets",
  `AWS_ACCESS_KEY=${ACCESS_KEY}`,
  `AWS_SECRET_ACCESS_KEY="${SECRET}"`,
  "AWS_REGION=eu-west-1",
  "export S3_BUCKET=shop-images",
  "MAX_UPLOAD_BYTES=20971520",
].join("\n");

/** Commands that change the project; everything else the script may call only reads. */
function isChanging(call: string[]): boolean {
  const readOnly = call[0] === "--version" ||
    (call[0] === "projects" && call[1] === "api-keys") ||
    (call[0] === "migration" && call[1] === "list") ||
    (call[0] === "db" && call[1] === "query" && call.includes("--read-only"));
  return !readOnly;
}

interface ProjectRequest {
  method: string;
  path: string;
  apikey: string | null;
  authorization: string | null;
  body: string;
}

interface DeployRun {
  code: number;
  /** stdout and stderr together. */
  output: string;
  calls: string[][];
  /** The PGPASSWORD each CLI call got, in call order ("" when none). */
  pgPasswords: string[];
  /** Health checks, in order. */
  health: ProjectRequest[];
  /** Sign-ins and /stats calls, in order. */
  userRequests: ProjectRequest[];
  /** What the fake database holds after the run. */
  vault: { projectUrl?: string; secretKey?: string; sql?: string };
  envFile: string;
  projectUrl: string;
}

interface DeployOptions {
  /** Contents of the env file passed as `--env-file` when `args` contains `{envFile}`. */
  envFile?: string;
  env?: Record<string, string>;
  /** Answer of the fake functions' health route, per function name. */
  health?: (fn: string) => Response;
  /** Answer of /stats to the signed-in user (default 200). */
  stats?: () => Response;
  /** Vault entries the database holds before the deploy. */
  vault?: { projectUrl?: string; secretKey?: string };
}

/** Runs the deploy script with `args` (`{envFile}` is replaced by the env file's path). */
async function deploy(args: string[], options: DeployOptions = {}): Promise<DeployRun> {
  const dir = await Deno.makeTempDir({ prefix: "deploy-test-" });
  const state = `${dir}/database`;
  const envFile = `${dir}/prod.env`;
  const log = `${dir}/calls.log`;
  const passwordLog = `${dir}/pgpassword.log`;
  await Deno.mkdir(state);
  await Deno.writeTextFile(envFile, options.envFile ?? GOOD_ENV);
  await Deno.writeTextFile(log, "");
  await Deno.writeTextFile(passwordLog, "");
  if (options.vault?.projectUrl) {
    await Deno.writeTextFile(`${state}/project_url`, options.vault.projectUrl);
  }
  if (options.vault?.secretKey) {
    await Deno.writeTextFile(`${state}/secret_key`, options.vault.secretKey);
  }
  const health: ProjectRequest[] = [];
  const userRequests: ProjectRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const seen: ProjectRequest = {
      method: request.method,
      path: `${url.pathname}${url.search}`,
      apikey: request.headers.get("apikey"),
      authorization: request.headers.get("authorization"),
      body: await request.text(),
    };
    if (url.pathname === "/auth/v1/token") {
      userRequests.push(seen);
      const { email, password } = JSON.parse(seen.body);
      const publicKey = seen.apikey === ANON_KEY || seen.apikey === PUBLISHABLE_KEY;
      if (url.searchParams.get("grant_type") !== "password" || !publicKey) {
        return Response.json({ message: "Invalid API key" }, { status: 401 });
      }
      if (email !== USER_EMAIL || password !== USER_PASSWORD) {
        return Response.json({
          code: 400,
          error_code: "invalid_credentials",
          msg: "Invalid login credentials",
        }, { status: 400 });
      }
      return Response.json({
        access_token: USER_TOKEN,
        token_type: "bearer",
        expires_in: 3600,
        refresh_token: REFRESH_TOKEN,
        user: { email: USER_EMAIL, app_metadata: { role: "manager" } },
      });
    }
    if (url.pathname === "/functions/v1/s3-image-service/stats") {
      userRequests.push(seen);
      if (seen.authorization !== `Bearer ${USER_TOKEN}`) {
        return Response.json({ error: { code: "unauthorized", message: "No valid token" } }, {
          status: 401,
        });
      }
      return options.stats?.() ?? Response.json({ total: 3, bytes: 1234 });
    }
    health.push(seen);
    const fn = url.pathname.split("/")[3];
    return options.health?.(fn) ??
      Response.json({ ok: true, checks: { bucket: "ok", database: "ok" } });
  });
  const projectUrl = `http://127.0.0.1:${server.addr.port}`;
  try {
    const { code, stdout, stderr } = await new Deno.Command("bash", {
      args: [SCRIPT, ...args.map((arg) => arg.replace("{envFile}", envFile))],
      cwd: dir,
      clearEnv: true,
      env: {
        PATH: `${FAKE_BIN}:/usr/local/bin:/usr/bin:/bin`,
        HOME: dir,
        FAKE_SUPABASE_LOG: log,
        FAKE_SUPABASE_PGPASSWORD_LOG: passwordLog,
        FAKE_SUPABASE_STATE: state,
        FAKE_ANON_KEY: ANON_KEY,
        FAKE_SERVICE_ROLE_KEY: SERVICE_KEY,
        FAKE_PUBLISHABLE_KEY: PUBLISHABLE_KEY,
        FAKE_SECRET_KEY: SECRET_API_KEY,
        SUPABASE_ACCESS_TOKEN: ACCESS_TOKEN,
        SUPABASE_URL: projectUrl,
        ...options.env,
      },
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    const calls = (await Deno.readTextFile(log)).split("\n").filter(Boolean)
      .map((line) => line.split("\t"));
    const read = (name: string) =>
      Deno.readTextFile(`${state}/${name}`).then(
        (text) => text.replace(/\n$/, ""),
        () => undefined,
      );
    return {
      code,
      output: decoder.decode(stdout) + decoder.decode(stderr),
      calls,
      pgPasswords: (await Deno.readTextFile(passwordLog)).split("\n").slice(0, calls.length),
      health,
      userRequests,
      vault: {
        projectUrl: await read("project_url"),
        secretKey: await read("secret_key"),
        sql: await read("vault.sql"),
      },
      envFile,
      projectUrl,
    };
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

function assertNoSecretShown(run: DeployRun) {
  for (
    const value of [
      SECRET,
      ACCESS_KEY,
      SERVICE_KEY,
      SECRET_API_KEY,
      ACCESS_TOKEN,
      USER_PASSWORD,
      JSON.stringify(USER_PASSWORD).slice(1, -1),
      USER_TOKEN,
      REFRESH_TOKEN,
    ]
  ) {
    assert.ok(!run.output.includes(value), `output shows a secret value:\n${run.output}`);
  }
}

/** No secret reaches a command line (which `ps` shows to every user of the machine). */
function assertNoSecretOnCommandLines(run: DeployRun) {
  for (const call of run.calls) {
    for (const value of [SECRET_API_KEY, SERVICE_KEY, USER_PASSWORD, USER_TOKEN]) {
      assert.ok(!call.some((arg) => arg.includes(value)), `a command line holds a secret: ${call}`);
    }
  }
}

/** The vault write: `db query <target> -f <temporary file> --agent=no --yes`. */
function isVaultWrite(call: string[]): boolean {
  return call[0] === "db" && call[1] === "query" && !call.includes("--read-only");
}

Deno.test("deploy: a full deploy sets secrets, pushes migrations, stores the resumer's Vault entries, deploys both functions, checks the resumer and their health", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"]);
  assert.equal(run.code, 0, run.output);
  const vaultCall = run.calls.find(isVaultWrite);
  assert.ok(vaultCall, run.calls.join("\n"));
  assert.deepEqual(run.calls, [
    ["--version"],
    ["projects", "api-keys", `--remote=${REF}`, "--reveal", "-o", "json"],
    ["secrets", "set", "--env-file", run.envFile, `--remote=${REF}`, "--yes"],
    ["db", "push", `--remote=${REF}`, "--yes"],
    ["db", "query", `--remote=${REF}`, "-f", vaultCall[4], "--agent=no", "--yes"],
    ["functions", "deploy", "upload-to-s3", "--use-api", `--remote=${REF}`, "--yes"],
    ["functions", "deploy", "s3-image-service", "--use-api", `--remote=${REF}`, "--yes"],
    ["db", "query", `--remote=${REF}`, "--read-only", "-o", "json", "--agent=no", "-f", CHECK_SQL],
  ]);
  // The deep checks run for the secret key: as `apikey` only (no API key in Authorization).
  assert.deepEqual(
    run.health.map(({ path, apikey, authorization }) => ({ path, apikey, authorization })),
    [
      {
        path: "/functions/v1/upload-to-s3/health?deep=true",
        apikey: SECRET_API_KEY,
        authorization: null,
      },
      {
        path: "/functions/v1/s3-image-service/health?deep=true",
        apikey: SECRET_API_KEY,
        authorization: null,
      },
    ],
  );
  assert.match(run.output, /\/functions\/v1\/upload-to-s3\n/);
  assert.match(run.output, /\/functions\/v1\/s3-image-service\n/);
  assertNoSecretShown(run);
  assertNoSecretOnCommandLines(run);
});

Deno.test("deploy: never runs config push nor turns JWT verification off", async () => {
  const run = await deploy(["--env-file", "{envFile}", "--include-all"], {
    env: { SUPABASE_PROJECT_REF: REF },
  });
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.calls.find((c) => c[0] === "db"), [
    "db",
    "push",
    `--remote=${REF}`,
    "--yes",
    "--include-all",
  ]);
  for (const call of run.calls) {
    assert.ok(!call.includes("--no-verify-jwt"), call.join(" "));
    assert.ok(!(call[0] === "config" && call[1] === "push"), call.join(" "));
  }
});

Deno.test("deploy: naming a function deploys and checks only that one", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-migrations", "s3-image-service"]);
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.calls.filter((call) => isChanging(call) && !isVaultWrite(call)), [
    ["functions", "deploy", "s3-image-service", "--use-api", `--remote=${REF}`, "--yes"],
  ]);
  assert.deepEqual(run.health.map((h) => h.path), [
    "/functions/v1/s3-image-service/health?deep=true",
  ]);
});

Deno.test("deploy: --dry-run prints every step's exact command and changes nothing", async () => {
  const run = await deploy([
    "--project-ref",
    REF,
    "--env-file",
    "{envFile}",
    "--configure-bucket",
    "--cors-origin",
    "https://admin.example.com",
    "--dry-run",
  ]);
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.calls.filter(isChanging), []);
  assert.deepEqual(run.health, []);
  for (
    const expected of [
      `supabase projects api-keys --remote=${REF} --reveal -o json`,
      `supabase secrets set --env-file ${run.envFile} --remote=${REF} --yes`,
      `supabase db push --remote=${REF} --yes`,
      `supabase db query --remote=${REF} -f <file with the two entries> --agent=no --yes`,
      `supabase functions deploy upload-to-s3 --use-api --remote=${REF} --yes`,
      `supabase functions deploy s3-image-service --use-api --remote=${REF} --yes`,
      `scripts/deploy/configure_bucket.ts --env-file ${run.envFile} --cors-origin https://admin.example.com`,
      `supabase db query --remote=${REF} --read-only -o json --agent=no -f scripts/deploy/resumer_check.sql`,
      `/upload-to-s3/health?deep=true`,
    ]
  ) {
    assert.ok(
      run.output.split("\n").some((line) => line.includes("would run:") && line.includes(expected)),
      `no "would run" line with: ${expected}\n${run.output}`,
    );
  }
  assert.match(run.output, /nothing was changed/);
  assertNoSecretShown(run);
});

Deno.test("deploy: without a project ref it refuses before calling the CLI", async () => {
  const run = await deploy(["--env-file", "{envFile}"]);
  assert.equal(run.code, 1);
  assert.match(run.output, /no project ref: pass --project-ref <ref> or set SUPABASE_PROJECT_REF/);
  assert.deepEqual(run.calls, []);
});

Deno.test("deploy: a malformed project ref is refused before calling the CLI", async () => {
  const run = await deploy(["--project-ref", "https://abc.supabase.co"]);
  assert.equal(run.code, 1);
  assert.match(run.output, /is not a Supabase project ref/);
  assert.deepEqual(run.calls, []);
});

Deno.test("deploy: an env file missing a required name is refused, naming it, before any change", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    envFile: GOOD_ENV.replace("AWS_REGION=eu-west-1", "AWS_REGION="),
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /refused, nothing was changed/);
  assert.match(run.output, /AWS_REGION is missing or empty/);
  assert.deepEqual(run.calls.filter(isChanging), []);
  assertNoSecretShown(run);
});

Deno.test("deploy: an env file naming SUPABASE_* is refused before any change", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    envFile: `${GOOD_ENV}\nSUPABASE_SERVICE_ROLE_KEY=${SERVICE_KEY}\n`,
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /SUPABASE_SERVICE_ROLE_KEY: names starting SUPABASE_ are reserved/);
  assert.deepEqual(run.calls.filter(isChanging), []);
  assertNoSecretShown(run);
});

Deno.test("deploy: .env.example's placeholder values and a local S3 endpoint are refused", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    envFile: `${GOOD_ENV.replace(SECRET, "replace-me")}\nS3_ENDPOINT=http://127.0.0.1:54329\n`,
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /AWS_SECRET_ACCESS_KEY still has the example value/);
  assert.match(run.output, /S3_ENDPOINT points at this machine/);
  assert.deepEqual(run.calls.filter(isChanging), []);
});

Deno.test("deploy: Supabase Storage's S3 endpoint needs S3_CONDITIONAL_WRITES=false and has no bucket rules to configure", async () => {
  const storage = `${GOOD_ENV}\nS3_ENDPOINT=https://${REF}.supabase.co/storage/v1/s3\n`;
  const refused = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    envFile: storage,
  });
  assert.equal(refused.code, 1);
  assert.match(refused.output, /S3_CONDITIONAL_WRITES must be false for Supabase Storage/);
  assert.deepEqual(refused.calls.filter(isChanging), []);

  const fixed = `${storage}S3_CONDITIONAL_WRITES=false\n`;
  const noRules = await deploy(
    ["--project-ref", REF, "--env-file", "{envFile}", "--configure-bucket"],
    { envFile: fixed },
  );
  assert.equal(noRules.code, 1);
  assert.match(noRules.output, /Supabase Storage's S3 endpoint has no CORS or lifecycle API/);
  assert.deepEqual(noRules.calls.filter(isChanging), []);

  const accepted = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    envFile: fixed,
  });
  assert.equal(accepted.code, 0, accepted.output);
});

Deno.test("deploy: a failing step is named with the CLI's message, and nothing runs after it", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    env: {
      FAKE_SUPABASE_FAIL: "db push",
      FAKE_SUPABASE_FAIL_MESSAGE: "failed to connect to postgres: connection refused (code 42)",
    },
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /step "migrations" failed \(exit code 1\)/);
  assert.match(run.output, /failed to connect to postgres: connection refused \(code 42\)/);
  assert.deepEqual(run.calls.at(-1), ["db", "push", `--remote=${REF}`, "--yes"]);
  assert.ok(!run.calls.some((call) => call[0] === "functions" || isVaultWrite(call)));
  assert.deepEqual(run.health, []);
});

Deno.test("deploy: a failing function deploy names the function and stops before the next", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-migrations"], {
    env: {
      FAKE_SUPABASE_FAIL: "functions deploy upload-to-s3",
      FAKE_SUPABASE_FAIL_MESSAGE: "bundle failed",
    },
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /step "functions \(upload-to-s3\)" failed/);
  assert.match(run.output, /bundle failed/);
  assert.ok(!run.calls.some((call) => call.includes("s3-image-service")));
  assert.deepEqual(run.health, []);
});

Deno.test("deploy: without access to the project it stops at the check, before any change", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    env: {
      FAKE_SUPABASE_FAIL: "projects api-keys",
      FAKE_SUPABASE_FAIL_MESSAGE:
        "Access token not provided. Supply an access token by running `supabase login`",
    },
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /step "check" failed/);
  assert.match(run.output, /Access token not provided/);
  assert.deepEqual(run.calls.filter(isChanging), []);
});

Deno.test("deploy: a migration history mismatch shows the CLI's message and how to repair it", async () => {
  const run = await deploy(["--project-ref", REF], {
    env: {
      FAKE_SUPABASE_FAIL: "db push",
      FAKE_SUPABASE_FAIL_MESSAGE:
        "Remote migration versions not found in local migrations directory.",
    },
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /Remote migration versions not found in local migrations directory\./);
  assert.match(
    run.output,
    new RegExp(`migration repair --status reverted <version\\.\\.\\.> --remote=${REF}`),
  );
  assert.match(run.output, new RegExp(`migration list --remote=${REF}`));
});

Deno.test("deploy: secret values are masked even when the CLI prints them", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    env: {
      FAKE_SUPABASE_ECHO_ENV_FILE: "1",
      FAKE_SUPABASE_FAIL: "db push",
      FAKE_SUPABASE_FAIL_MESSAGE: `cannot use ${SECRET} with token ${ACCESS_TOKEN}`,
    },
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /AWS_SECRET_ACCESS_KEY="\*\*\*"/);
  assert.match(run.output, /cannot use \*\*\* with token \*\*\*/);
  assertNoSecretShown(run);
});

Deno.test("deploy: a failed deep health check fails the smoke test and shows which check failed", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-migrations"], {
    health: (fn) =>
      fn === "s3-image-service"
        ? Response.json({ ok: false, checks: { bucket: "AccessDenied", database: "ok" } }, {
          status: 503,
        })
        : Response.json({ ok: true, checks: { bucket: "ok", database: "ok" } }),
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /ok: upload-to-s3/);
  assert.match(run.output, /s3-image-service answered HTTP 503: .*"bucket":"AccessDenied"/);
  assert.match(run.output, /step "smoke test" failed for: s3-image-service/);
});

Deno.test("deploy: --configure-bucket applies the CORS rule and stops on a bucket without a lifecycle API", async () => {
  const dir = await makeStackTempDir("deploy-test-s3-");
  const port = freePort();
  const emulator = await startS3Emulator({ port, dataDir: dir, bucket: "shop-images" });
  try {
    const run = await deploy(
      [
        "--project-ref",
        REF,
        "--env-file",
        "{envFile}",
        "--skip-migrations",
        "--configure-bucket",
        "--cors-origin",
        "https://admin.example.com",
      ],
      {
        envFile: [
          "S3_BUCKET=shop-images",
          "AWS_REGION=us-east-1",
          `AWS_ACCESS_KEY=${EMULATOR_CREDENTIALS.accessKeyId}`,
          `AWS_SECRET_ACCESS_KEY=${EMULATOR_CREDENTIALS.secretAccessKey}`,
          `S3_ENDPOINT=http://127.0.0.1:${port}`,
        ].join("\n"),
        env: { DEPLOY_ALLOW_LOCAL_S3: "1" },
      },
    );
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /ok: cors on bucket "shop-images": .*https:\/\/admin\.example\.com/);
    assert.match(run.output, /step "bucket" failed/);
    assert.match(run.output, /UNSUPPORTED: lifecycle on bucket "shop-images": NotImplemented/);
    assert.deepEqual(run.health, [], "the smoke test runs only after every step succeeded");
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("deploy: a project without legacy keys runs the deep checks with its secret key and signs the user in with its publishable key", async () => {
  const run = await deploy(
    ["--project-ref", REF, "--skip-migrations", "--smoke-user", USER_EMAIL, "upload-to-s3"],
    {
      env: { FAKE_ANON_KEY: "", FAKE_SERVICE_ROLE_KEY: "", SMOKE_USER_PASSWORD: USER_PASSWORD },
    },
  );
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(
    run.health.map(({ path, apikey, authorization }) => ({ path, apikey, authorization })),
    [{
      path: "/functions/v1/upload-to-s3/health?deep=true",
      apikey: SECRET_API_KEY,
      authorization: null,
    }],
  );
  assert.equal(run.userRequests[0].apikey, PUBLISHABLE_KEY);
  assert.equal(run.userRequests[0].authorization, null);
  assert.equal(run.vault.secretKey, SECRET_API_KEY);
  assertNoSecretShown(run);
});

Deno.test("deploy: a project with no secret key at all stops at the check, before any change", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    env: { FAKE_SECRET_KEY: "", FAKE_SERVICE_ROLE_KEY: "" },
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /lists no secret key \(sb_secret_…\) for the stalled-job resumer/);
  assert.match(run.output, /--skip-vault/);
  assert.deepEqual(run.calls.filter(isChanging), []);
});

Deno.test("deploy: --smoke-user without a key to sign in with stops at the check, before any change", async () => {
  const run = await deploy([
    "--project-ref",
    REF,
    "--env-file",
    "{envFile}",
    "--smoke-user",
    USER_EMAIL,
  ], {
    env: { FAKE_ANON_KEY: "", FAKE_PUBLISHABLE_KEY: "", SMOKE_USER_PASSWORD: USER_PASSWORD },
  });
  assert.equal(run.code, 1);
  assert.match(
    run.output,
    /no anon or publishable key for --smoke-user to sign in with; set SUPABASE_ANON_KEY/,
  );
  assert.deepEqual(run.calls.filter(isChanging), []);
  assertNoSecretShown(run);
});

Deno.test("deploy: a relative --env-file is read from the caller's directory and never echoed when malformed", async () => {
  const ok = await deploy(["--project-ref", REF, "--env-file", "prod.env", "--skip-smoke"]);
  assert.equal(ok.code, 0, ok.output);
  assert.deepEqual(ok.calls.find((c) => c[0] === "secrets"), [
    "secrets",
    "set",
    "--env-file",
    ok.envFile,
    `--remote=${REF}`,
    "--yes",
  ]);

  const pasted = await deploy(["--project-ref", REF, "--env-file", "prod.env"], {
    envFile:
      `${GOOD_ENV}\n${SECRET}\nDB_POOLER_URL=postgresql://app:Pooler-Pa55@pooler.example.com:6543/postgres\n`,
  });
  assert.equal(pasted.code, 1);
  assert.match(pasted.output, /line 7 is not NAME=value/);
  assert.deepEqual(pasted.calls.filter(isChanging), []);
  assertNoSecretShown(pasted);
});

Deno.test("deploy: a password inside any URL value of the env file is masked", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}", "--skip-smoke"], {
    envFile:
      `${GOOD_ENV}\nDB_POOLER_URL=postgresql://app:Pooler-Pa55@pooler.example.com:6543/postgres\n`,
    env: { FAKE_SUPABASE_ECHO_ENV_FILE: "1" },
  });
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /DB_POOLER_URL=postgresql:\/\/app:\*\*\*@pooler\.example\.com/);
  assert.ok(!run.output.includes("Pooler-Pa55"), run.output);
});

// --- the stalled-job resumer: Vault entries set, then checked with the pg_cron job -------------

Deno.test("deploy: stores the project URL and the revealed secret key in Vault, from a file, and checks them", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-smoke"]);
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.vault.projectUrl, run.projectUrl);
  assert.deepEqual(run.vault.secretKey, SECRET_API_KEY);
  // One statement that creates or updates each entry by name (what the resumer's SQL reads).
  assert.match(run.vault.sql ?? "", /^do \$deploy\$/m);
  assert.match(run.vault.sql ?? "", /vault\.update_secret\(existing, entry\.value\)/);
  assert.match(run.vault.sql ?? "", /vault\.create_secret\(entry\.value, entry\.key,/);
  assert.match(
    run.output,
    /ok: Vault entries s3_image_cache_project_url \(http:\/\/127\.0\.0\.1:\d+\) and s3_image_cache_secret_key, pg_cron job s3-image-cache-resume-stalled-jobs/,
  );
  // The check comes after the write, and is read-only.
  const query = run.calls.findIndex((call) => call.includes("--read-only"));
  assert.ok(query > run.calls.findIndex(isVaultWrite));
  assertNoSecretShown(run);
  assertNoSecretOnCommandLines(run);
});

Deno.test("deploy: a rerun overwrites a rotated secret key in Vault", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-smoke", "--skip-migrations"], {
    vault: { projectUrl: "https://old.example.com", secretKey: "sb_secret_old_rotated_key" },
  });
  assert.equal(run.code, 0, run.output);
  assert.equal(run.vault.secretKey, SECRET_API_KEY);
  assert.equal(run.vault.projectUrl, run.projectUrl);
});

Deno.test("deploy: fails clearly when the Vault entries did not stick or the pg_cron job is missing", async () => {
  const lost = await deploy(["--project-ref", REF, "--skip-smoke"], {
    env: { FAKE_VAULT_DROPS_WRITES: "1" },
  });
  assert.equal(lost.code, 1, lost.output);
  assert.match(lost.output, /step "resumer" failed: a stalled rebuild would not resume on its own/);
  assert.match(lost.output, /Vault entry s3_image_cache_project_url is missing/);
  assert.match(lost.output, /Vault entry s3_image_cache_secret_key is missing or empty/);
  assertNoSecretShown(lost);

  const noJob = await deploy(["--project-ref", REF, "--skip-smoke"], {
    env: { FAKE_CRON_JOBS: "0" },
  });
  assert.equal(noJob.code, 1, noJob.output);
  assert.match(noJob.output, /no active pg_cron job s3-image-cache-resume-stalled-jobs/);
  // The functions were deployed before the check: the message says so.
  assert.ok(noJob.calls.some((call) => call[0] === "functions"));
  assert.match(noJob.output, /Everything before it was deployed/);

  const noCron = await deploy(["--project-ref", REF, "--skip-smoke"], {
    env: { FAKE_CRON_JOBS: "null" },
  });
  assert.equal(noCron.code, 1, noCron.output);
  assert.match(noCron.output, /pg_cron is not installed/);
});

Deno.test("deploy: a Vault entry holding another key than the one stored is reported", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-smoke"], {
    env: { FAKE_VAULT_DROPS_WRITES: "1" },
    vault: { secretKey: "sb_secret_someone_elses_key" },
  });
  assert.equal(run.code, 1, run.output);
  assert.match(run.output, /s3_image_cache_secret_key is not the key this deploy stored/);
  assert.ok(!run.output.includes("sb_secret_someone_elses_key"), run.output);
});

Deno.test("deploy: --skip-vault writes nothing, lists keys without --reveal, and still checks the entries", async () => {
  const set = await deploy(["--project-ref", REF, "--skip-smoke", "--skip-vault"], {
    vault: { projectUrl: "PROJECT_URL", secretKey: "sb_secret_set_by_hand" },
  });
  // The fake database's URL is only known once the server runs: a hand-set URL that differs is named.
  assert.equal(set.code, 1, set.output);
  assert.match(
    set.output,
    /s3_image_cache_project_url is "PROJECT_URL", not "http:\/\/127\.0\.0\.1:\d+"/,
  );
  assert.ok(!set.calls.some(isVaultWrite));
  assert.deepEqual(set.calls[1], ["projects", "api-keys", `--remote=${REF}`, "-o", "json"]);

  const missing = await deploy(["--project-ref", REF, "--skip-smoke", "--skip-vault"]);
  assert.equal(missing.code, 1);
  assert.match(missing.output, /Vault entry s3_image_cache_project_url is missing/);
});

Deno.test("deploy: a secret key listed without --reveal is never taken for the key", async () => {
  // --skip-vault lists the keys shortened (`sb_secret_Zz98…`): the deep checks fall back to the
  // legacy service_role key, never to a shortened secret key.
  const run = await deploy(["--project-ref", REF, "--skip-vault", "--skip-migrations"], {
    vault: { secretKey: "sb_secret_set_by_hand" },
    env: { FAKE_CRON_JOBS: "1" },
  });
  assert.ok(run.health.every((h) => h.apikey === SERVICE_KEY), JSON.stringify(run.health));
  assert.ok(!run.output.includes("sb_secret_Zz98"), run.output);
});

Deno.test("deploy: a project with legacy keys only stores its service_role key, with a warning", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-migrations", "s3-image-service"], {
    env: { FAKE_SECRET_KEY: "" },
  });
  assert.equal(run.code, 0, run.output);
  assert.equal(run.vault.secretKey, SERVICE_KEY);
  assert.match(
    run.output,
    /warning: no sb_secret_ key; the legacy service_role key stands in for it/,
  );
  assert.deepEqual(run.health.map(({ apikey, authorization }) => ({ apikey, authorization })), [
    { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}` },
  ]);
  assertNoSecretShown(run);
  assertNoSecretOnCommandLines(run);
});

// --- the smoke test proves a person can work ---------------------------------------------------

Deno.test("deploy: --smoke-user signs in through the Auth API and calls /stats with the user's token", async () => {
  const run = await deploy(
    ["--project-ref", REF, "--skip-migrations", "--smoke-user", USER_EMAIL],
    {
      env: { SMOKE_USER_PASSWORD: USER_PASSWORD },
    },
  );
  assert.equal(run.code, 0, run.output);
  const [signIn, stats] = run.userRequests;
  assert.equal(run.userRequests.length, 2);
  assert.equal(signIn.method, "POST");
  assert.equal(signIn.path, "/auth/v1/token?grant_type=password");
  assert.equal(signIn.apikey, ANON_KEY);
  assert.deepEqual(JSON.parse(signIn.body), { email: USER_EMAIL, password: USER_PASSWORD });
  assert.equal(stats.method, "GET");
  assert.equal(stats.path, "/functions/v1/s3-image-service/stats");
  assert.equal(stats.apikey, ANON_KEY);
  assert.equal(stats.authorization, `Bearer ${USER_TOKEN}`);
  assert.match(run.output, /ok: alice@example\.com signed in/);
  assert.match(
    run.output,
    /ok: alice@example\.com read http:\/\/127\.0\.0\.1:\d+\/functions\/v1\/s3-image-service\/stats/,
  );
  assert.doesNotMatch(run.output, /NOT CHECKED/);
  assertNoSecretShown(run);
  assertNoSecretOnCommandLines(run);
});

Deno.test("deploy: without --smoke-user the script says plainly that user sign-in was not checked", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-migrations"]);
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /NOT CHECKED: user sign-in\. Pass --smoke-user EMAIL/);
  assert.deepEqual(run.userRequests, []);
});

Deno.test("deploy: --smoke-user fails the smoke test on a refused sign-in or a /stats that is not 200", async () => {
  const wrong = await deploy([
    "--project-ref",
    REF,
    "--skip-migrations",
    "--smoke-user",
    USER_EMAIL,
  ], {
    env: { SMOKE_USER_PASSWORD: "not-the-password" },
  });
  assert.equal(wrong.code, 1);
  assert.match(
    wrong.output,
    /FAILED: sign-in of alice@example\.com answered HTTP 400: .*Invalid login credentials/,
  );
  assert.match(wrong.output, /step "smoke test" failed for: sign-in of alice@example\.com/);
  assert.ok(!wrong.output.includes("not-the-password"), wrong.output);
  assert.equal(wrong.userRequests.length, 1, "no /stats call without a session");

  for (
    const [status, hint] of [[401, /Which kind of project is this\?/], [
      403,
      /no manager or admin role/,
    ]] as const
  ) {
    const refused = await deploy([
      "--project-ref",
      REF,
      "--skip-migrations",
      "--smoke-user",
      USER_EMAIL,
    ], {
      env: { SMOKE_USER_PASSWORD: USER_PASSWORD },
      stats: () => Response.json({ error: { code: "x", message: "refused" } }, { status }),
    });
    assert.equal(refused.code, 1);
    assert.match(
      refused.output,
      new RegExp(`answered alice@example\\.com's token with HTTP ${status}`),
    );
    assert.match(refused.output, hint);
    assertNoSecretShown(refused);
  }
});

Deno.test("deploy: --smoke-user without SMOKE_USER_PASSWORD, or with --skip-smoke, is refused before the CLI runs", async () => {
  const noPassword = await deploy(["--project-ref", REF, "--smoke-user", USER_EMAIL]);
  assert.equal(noPassword.code, 1);
  assert.match(noPassword.output, /--smoke-user needs the user's password in SMOKE_USER_PASSWORD/);
  assert.deepEqual(noPassword.calls, []);

  const skipped = await deploy(["--project-ref", REF, "--smoke-user", USER_EMAIL, "--skip-smoke"], {
    env: { SMOKE_USER_PASSWORD: USER_PASSWORD },
  });
  assert.equal(skipped.code, 1);
  assert.match(skipped.output, /--smoke-user needs the smoke test: drop --skip-smoke/);
  assert.deepEqual(skipped.calls, []);
});

Deno.test("deploy: --dry-run with --smoke-user shows the sign-in and /stats calls without the password", async () => {
  const run = await deploy(["--project-ref", REF, "--smoke-user", USER_EMAIL, "--dry-run"], {
    env: { SMOKE_USER_PASSWORD: USER_PASSWORD },
  });
  assert.equal(run.code, 0, run.output);
  assert.match(
    run.output,
    /would run: curl .*--data-binary <email and password> .*\/auth\/v1\/token\?grant_type=password/,
  );
  assert.match(
    run.output,
    /would run: curl .*Bearer <the user's token>.*\/functions\/v1\/s3-image-service\/stats/,
  );
  assert.deepEqual(run.userRequests, []);
  assertNoSecretShown(run);
});

// --- a database password is never printed, on any path ------------------------------------------

const POOLER = "aws-0-eu-west-1.pooler.supabase.com:5432/postgres";
const DB_USER = `postgres.${REF}`;

/**
 * Passwords of the shapes that leaked; each has the distinctive halves `Kx7q` and `Zr9w` around
 * the character that matters, and neither half may ever be printed.
 */
const LEAKY_PASSWORDS: { name: string; inUrl: string; password: string }[] = [
  { name: "a single quote (shell-escaped when shown)", inUrl: "Kx7q'Zr9w", password: "Kx7q'Zr9w" },
  { name: "a double quote (JSON-escaped by the CLI)", inUrl: 'Kx7q"Zr9w', password: 'Kx7q"Zr9w' },
  { name: "an unencoded @", inUrl: "Kx7q@Zr9w", password: "Kx7q@Zr9w" },
  { name: "an unencoded :", inUrl: "Kx7q:Zr9w", password: "Kx7q:Zr9w" },
  { name: "an unencoded /", inUrl: "Kx7q/Zr9w", password: "Kx7q/Zr9w" },
  { name: "URL-encoded characters", inUrl: "Kx7q%40%3A%2FZr9w", password: "Kx7q@:/Zr9w" },
];

function assertPasswordNeverShown(run: DeployRun) {
  for (const half of ["Kx7q", "Zr9w"]) {
    assert.ok(
      !run.output.includes(half),
      `output shows part of the password (${half}):\n${run.output}`,
    );
    for (const call of run.calls) {
      assert.ok(
        !call.some((arg) => arg.includes(half)),
        `a command line holds the password: ${call}`,
      );
    }
  }
}

for (const { name, inUrl, password } of LEAKY_PASSWORDS) {
  const url = `postgresql://${DB_USER}:${inUrl}@${POOLER}`;

  Deno.test(`deploy: --db-url with ${name}: the CLI gets it as PGPASSWORD, and neither the commands shown nor the CLI's own output show it`, async () => {
    const run = await deploy(["--project-ref", REF, "--db-url", url, "--skip-smoke"], {
      env: { FAKE_SUPABASE_ECHO_ARGS: "1" },
    });
    assert.equal(run.code, 0, run.output);
    const target = `--remote=postgresql://${DB_USER}@${POOLER}`;
    const dbCalls = run.calls.map((call, i) => ({ call, password: run.pgPasswords[i] }))
      .filter(({ call }) => call[0] === "db");
    assert.deepEqual(dbCalls.map(({ call }) => call[2]), [target, target, target]);
    assert.ok(dbCalls.every((c) => c.password === password), JSON.stringify(run.pgPasswords));
    // Only database commands get it.
    assert.ok(run.calls.every((call, i) => call[0] === "db" || run.pgPasswords[i] === ""));
    assert.match(
      run.output,
      new RegExp(
        `\\$ \\S*supabase db push --remote=postgresql://${DB_USER}:\\*\\*\\*@aws-0-eu-west-1`,
      ),
    );
    assertPasswordNeverShown(run);
  });

  Deno.test(`deploy: --db-url with ${name}: --dry-run and a failing push with its repair hint never show it`, async () => {
    const dry = await deploy(["--project-ref", REF, `--db-url=${url}`, "--dry-run"]);
    assert.equal(dry.code, 0, dry.output);
    assert.match(
      dry.output,
      new RegExp(
        `would run: \\S*supabase db push --remote=postgresql://${DB_USER}:\\*\\*\\*@aws-0`,
      ),
    );
    assertPasswordNeverShown(dry);

    const failed = await deploy(["--project-ref", REF, "--db-url", url], {
      env: {
        FAKE_SUPABASE_ECHO_ARGS: "1",
        FAKE_SUPABASE_FAIL: "db push",
        FAKE_SUPABASE_FAIL_MESSAGE:
          `Remote migration versions not found in local migrations directory. (connecting to ${url})`,
      },
    });
    assert.equal(failed.code, 1);
    assert.match(
      failed.output,
      /migration repair --status reverted <version\.\.\.> --remote=postgresql:\/\/postgres\.abcdefghijklmnopqrst:\*\*\*@aws-0/,
    );
    assertPasswordNeverShown(failed);
  });
}

Deno.test("deploy: a mistyped option or a stray argument holding a connection string is never echoed", async () => {
  const url = `postgresql://${DB_USER}:Kx7q@Zr9w@${POOLER}`;
  for (const args of [["--dburl=" + url], ["--db-url", "mysql://" + url.slice(13)], [url]]) {
    const run = await deploy(["--project-ref", REF, ...args]);
    assert.equal(run.code, 1, run.output);
    assert.deepEqual(run.calls, []);
    assertPasswordNeverShown(run);
  }
  const named = await deploy(["--project-ref", REF, "upload-to-s4"]);
  assert.equal(named.code, 1);
  assert.match(
    named.output,
    /unknown function "upload-to-s4": this kit deploys upload-to-s3 s3-image-service/,
  );
});

Deno.test("deploy: a password given as a ?password= parameter is never shown", async () => {
  const run = await deploy(
    [
      "--project-ref",
      REF,
      "--db-url",
      `postgresql://${DB_USER}@${POOLER}?password=Kx7q-Zr9w&sslmode=require`,
      "--skip-smoke",
    ],
    { env: { FAKE_SUPABASE_ECHO_ARGS: "1" } },
  );
  assert.equal(run.code, 0, run.output);
  for (const half of ["Kx7q", "Zr9w"]) assert.ok(!run.output.includes(half), run.output);
  assert.match(run.output, /password=\*\*\*&sslmode=require/);
});

// --- --configure-events (live sync, docs/events.md) ----------------------------------------------

const EVENTS_SECRET = "ev3nts-Secret-0123456789-abcdefghijklmnop";
const ROLE_ARN = "arn:aws:iam::123456789012:role/s3-image-cache-eventbridge";
const DLQ_ARN = "arn:aws:sqs:eu-west-1:123456789012:s3-image-cache-events-dlq";

interface EventsRun extends DeployRun {
  /** The fake aws CLI's calls, in order. */
  aws: string[][];
  /** What the `file://` arguments of those calls held. */
  awsFiles: string;
}

/** {@linkcode deploy} with the fake aws CLI's log read back. */
async function deployEvents(args: string[], options: DeployOptions = {}): Promise<EventsRun> {
  const dir = await Deno.makeTempDir({ prefix: "deploy-events-test-" });
  const log = `${dir}/aws.log`;
  await Deno.writeTextFile(log, "");
  try {
    const run = await deploy(args, {
      ...options,
      env: { FAKE_AWS_LOG: log, ...options.env },
    });
    const aws = (await Deno.readTextFile(log)).split("\n").filter(Boolean)
      .map((line) => line.split("\t"));
    const awsFiles = await Deno.readTextFile(`${log}.files`).catch(() => "");
    return { ...run, aws, awsFiles };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const EVENTS_ARGS = [
  "--project-ref",
  REF,
  "--env-file",
  "{envFile}",
  "--skip-migrations",
  "--skip-smoke",
  "--configure-events",
  "--events-role-arn",
  ROLE_ARN,
];

function assertEventsSecretNeverShown(run: EventsRun) {
  assert.ok(!run.output.includes(EVENTS_SECRET), `output shows the events secret:\n${run.output}`);
  for (const call of [...run.calls, ...run.aws]) {
    assert.ok(!call.some((arg) => arg.includes(EVENTS_SECRET)), `a command line holds it: ${call}`);
  }
}

Deno.test("deploy: --configure-events --dry-run prints the secret step and every AWS step, and changes nothing", async () => {
  const run = await deployEvents([...EVENTS_ARGS, "--events-dlq-arn", DLQ_ARN, "--dry-run"], {
    env: { EVENTS_SECRET },
  });
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.calls.filter(isChanging), []);
  assert.deepEqual(run.aws, [], "a dry run calls no aws command, not even a read");
  const url = `${run.projectUrl}/functions/v1/s3-image-service/events`;
  for (
    const expected of [
      `supabase secrets set --env-file <file with EVENTS_SECRET> --remote=${REF} --yes`,
      "aws s3api get-bucket-notification-configuration --bucket shop-images --region eu-west-1",
      `aws s3api put-bucket-notification-configuration --bucket shop-images --region eu-west-1 --notification-configuration '{"EventBridgeConfiguration":{}}'`,
      "aws events create-connection --name s3-image-cache-events --region eu-west-1 --authorization-type API_KEY --auth-parameters file://<file with Authorization: Bearer <secret>>",
      `aws events create-api-destination --name s3-image-cache-events --region eu-west-1 --connection-arn '<connection ARN>' --invocation-endpoint ${url} --http-method POST --invocation-rate-limit-per-second 20`,
      `"detail-type":["Object Created","Object Deleted"],"detail":{"bucket":{"name":["shop-images"]}}`,
      `"RoleArn":"${ROLE_ARN}","RetryPolicy":{"MaximumRetryAttempts":185,"MaximumEventAgeInSeconds":86400},"DeadLetterConfig":{"Arn":"${DLQ_ARN}"}`,
    ]
  ) {
    assert.ok(
      run.output.split("\n").some((line) => line.includes("would run:") && line.includes(expected)),
      `no "would run" line with: ${expected}\n${run.output}`,
    );
  }
  assert.match(run.output, /nothing was changed/);
  assertEventsSecretNeverShown(run);
});

Deno.test("deploy: --configure-events sets the secret from a file and configures EventBridge with the aws CLI", async () => {
  const run = await deployEvents(EVENTS_ARGS, { env: { EVENTS_SECRET } });
  assert.equal(run.code, 0, run.output);
  const secretsCall = run.calls.findLast((call) => call[0] === "secrets");
  assert.ok(secretsCall && secretsCall[3] !== run.envFile, "its own file, not the env file");
  const url = `${run.projectUrl}/functions/v1/s3-image-service/events`;
  const verbs = run.aws.map((call) => `${call[0]} ${call[1]}`);
  assert.deepEqual(verbs, [
    "s3api get-bucket-notification-configuration",
    "s3api put-bucket-notification-configuration",
    "events describe-connection",
    "events create-connection",
    "events describe-api-destination",
    "events create-api-destination",
    "events put-rule",
    "events put-targets",
  ]);
  const destination = run.aws[5];
  assert.equal(destination[destination.indexOf("--invocation-endpoint") + 1], url);
  assert.equal(
    destination[destination.indexOf("--connection-arn") + 1],
    "arn:aws:events:eu-west-1:123456789012:connection/s3-image-cache-events/c1",
  );
  const targets = JSON.parse(run.aws[7][run.aws[7].indexOf("--targets") + 1]);
  assert.equal(
    targets[0].Arn,
    "arn:aws:events:eu-west-1:123456789012:api-destination/s3-image-cache-events/d1",
  );
  assert.equal(targets[0].RoleArn, ROLE_ARN);
  assert.equal(targets[0].DeadLetterConfig, undefined);
  // The secret reached the connection through a file, as the header EventBridge will send.
  assert.deepEqual(JSON.parse(run.awsFiles), {
    ApiKeyAuthParameters: { ApiKeyName: "Authorization", ApiKeyValue: `Bearer ${EVENTS_SECRET}` },
  });
  assert.match(run.output, /no dead-letter queue/);
  assert.match(run.output, /must allow events:InvokeApiDestination/);
  assertEventsSecretNeverShown(run);
});

Deno.test("deploy: --configure-events updates an existing connection and leaves a bucket's other notifications alone", async () => {
  const run = await deployEvents(EVENTS_ARGS, {
    env: {
      EVENTS_SECRET,
      FAKE_AWS_EXISTING: "1",
      FAKE_AWS_NOTIFICATION: '{"TopicConfigurations": [{"TopicArn": "arn:aws:sns:x"}]}',
    },
  });
  assert.equal(run.code, 0, run.output);
  const verbs = run.aws.map((call) => `${call[0]} ${call[1]}`);
  assert.ok(!verbs.includes("s3api put-bucket-notification-configuration"), verbs.join("\n"));
  assert.ok(
    verbs.includes("events update-connection") && verbs.includes("events update-api-destination"),
  );
  assert.match(run.output, /NOT DONE.*already has other notifications/);
});

Deno.test("deploy: --configure-events generates a secret into --events-secret-file, never showing it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/events-secret`;
    const run = await deployEvents([...EVENTS_ARGS, "--events-secret-file", file]);
    assert.equal(run.code, 0, run.output);
    const secret = (await Deno.readTextFile(file)).trim();
    assert.match(secret, /^[0-9a-f]{64}$/);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.ok(!run.output.includes(secret), run.output);
    assert.ok(![...run.calls, ...run.aws].some((call) => call.some((a) => a.includes(secret))));
    assert.ok(run.awsFiles.includes(`Bearer ${secret}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy: --configure-events without a role or off AWS sets the secret and prints what remains", async () => {
  const noRole = await deployEvents(
    EVENTS_ARGS.filter((arg) => arg !== "--events-role-arn" && arg !== ROLE_ARN),
    { env: { EVENTS_SECRET } },
  );
  assert.equal(noRole.code, 0, noRole.output);
  assert.deepEqual(noRole.aws, []);
  assert.ok(noRole.calls.some((call) => call[0] === "secrets"));
  assert.match(noRole.output, /NOT DONE.*needs --events-role-arn/);

  const minio = await deployEvents(EVENTS_ARGS, {
    env: { EVENTS_SECRET },
    envFile: `${GOOD_ENV}\nS3_ENDPOINT=https://minio.example.com`,
  });
  assert.equal(minio.code, 0, minio.output);
  assert.deepEqual(minio.aws, []);
  assert.match(minio.output, /NOT DONE.*not AWS S3 \(MinIO: mc event add/);
});

Deno.test("deploy: --configure-events refuses a missing or weak secret and malformed ARNs before any change", async () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [EVENTS_ARGS, {}, /needs the events secret/],
    [EVENTS_ARGS, { EVENTS_SECRET: "short" }, /at least 32 characters/],
    [EVENTS_ARGS, { EVENTS_SECRET: `${EVENTS_SECRET} with space` }, /at least 32 characters/],
    [[...EVENTS_ARGS, "--events-role-arn", "my-role"], { EVENTS_SECRET }, /is not an IAM role ARN/],
    [
      [...EVENTS_ARGS, "--events-dlq-arn", "arn:aws:sns:x"],
      { EVENTS_SECRET },
      /is not an SQS queue ARN/,
    ],
    [
      ["--project-ref", REF, "--events-role-arn", ROLE_ARN],
      {},
      /only apply with --configure-events/,
    ],
  ];
  for (const [args, env, message] of cases) {
    const run = await deployEvents(args, { env });
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, message);
    assert.deepEqual(run.calls.filter(isChanging), [], `changed something: ${run.output}`);
    assert.deepEqual(run.aws, []);
    assert.ok(!run.output.includes("with space"), "the secret is not echoed");
  }
});

Deno.test("deploy: --configure-events: a failing aws step is named and the rerun advice given", async () => {
  const run = await deployEvents(EVENTS_ARGS, {
    env: { EVENTS_SECRET, FAKE_AWS_FAIL: "events put-targets" },
  });
  assert.equal(run.code, 1, run.output);
  assert.match(run.output, /step "events" failed/);
  assert.match(run.output, /AccessDeniedException/);
  assert.match(
    run.output,
    /rerunning the deploy with --configure-events repeats every step safely/,
  );
});
