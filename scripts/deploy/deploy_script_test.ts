/**
 * deploy-s3-function.sh against a fake `supabase` first on PATH (testdata/supabase records
 * every call) and a local HTTP server standing in for the project's functions.
 */
import assert from "node:assert/strict";
import { freePort, makeStackTempDir } from "../stack/process.ts";
import { EMULATOR_CREDENTIALS, startS3Emulator } from "../stack/s3.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const SCRIPT = `${ROOT}deploy-s3-function.sh`;
const FAKE_BIN = new URL("./testdata", import.meta.url).pathname;
const REF = "abcdefghijklmnopqrst";
const SECRET = "s3cr3t-Value-that-must-never-show";
const ACCESS_KEY = "AKIAREALKEYFORTEST01";
const ANON_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.anon-signature";
const SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.service-signature";
const PUBLISHABLE_KEY = "sb_publishable_Xy12-AbC_def";
const SECRET_API_KEY = "sb_secret_Zz98_secretvalue";
const ACCESS_TOKEN = "sbp_0123456789abcdef0123456789abcdef01234567";

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
    (call[0] === "migration" && call[1] === "list");
  return !readOnly;
}

interface HealthRequest {
  path: string;
  apikey: string | null;
  authorization: string | null;
}

interface DeployRun {
  code: number;
  /** stdout and stderr together. */
  output: string;
  calls: string[][];
  health: HealthRequest[];
  envFile: string;
}

interface DeployOptions {
  /** Contents of the env file passed as `--env-file` when `args` contains `{envFile}`. */
  envFile?: string;
  env?: Record<string, string>;
  /** Answer of the fake functions' health route, per function name. */
  health?: (fn: string) => Response;
}

/** Runs the deploy script with `args` (`{envFile}` is replaced by the env file's path). */
async function deploy(args: string[], options: DeployOptions = {}): Promise<DeployRun> {
  const dir = await Deno.makeTempDir({ prefix: "deploy-test-" });
  const envFile = `${dir}/prod.env`;
  const log = `${dir}/calls.log`;
  await Deno.writeTextFile(envFile, options.envFile ?? GOOD_ENV);
  await Deno.writeTextFile(log, "");
  const health: HealthRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    health.push({
      path: `${url.pathname}${url.search}`,
      apikey: request.headers.get("apikey"),
      authorization: request.headers.get("authorization"),
    });
    const fn = url.pathname.split("/")[3];
    return options.health?.(fn) ??
      Response.json({ ok: true, checks: { bucket: "ok", database: "ok" } });
  });
  try {
    const { code, stdout, stderr } = await new Deno.Command("bash", {
      args: [SCRIPT, ...args.map((arg) => arg.replace("{envFile}", envFile))],
      cwd: dir,
      clearEnv: true,
      env: {
        PATH: `${FAKE_BIN}:/usr/local/bin:/usr/bin:/bin`,
        HOME: dir,
        FAKE_SUPABASE_LOG: log,
        FAKE_ANON_KEY: ANON_KEY,
        FAKE_SERVICE_ROLE_KEY: SERVICE_KEY,
        FAKE_PUBLISHABLE_KEY: PUBLISHABLE_KEY,
        FAKE_SECRET_KEY: SECRET_API_KEY,
        SUPABASE_ACCESS_TOKEN: ACCESS_TOKEN,
        SUPABASE_FUNCTIONS_URL: `http://127.0.0.1:${server.addr.port}/functions/v1`,
        ...options.env,
      },
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    const calls = (await Deno.readTextFile(log)).split("\n").filter(Boolean)
      .map((line) => line.split("\t"));
    return {
      code,
      output: decoder.decode(stdout) + decoder.decode(stderr),
      calls,
      health,
      envFile,
    };
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

function assertNoSecretShown(run: DeployRun) {
  for (const value of [SECRET, ACCESS_KEY, SERVICE_KEY, SECRET_API_KEY, ACCESS_TOKEN]) {
    assert.ok(!run.output.includes(value), `output shows a secret value:\n${run.output}`);
  }
}

Deno.test("deploy: a full deploy sets secrets, pushes migrations, deploys both functions, then checks their health", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"]);
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.calls, [
    ["--version"],
    ["projects", "api-keys", `--remote=${REF}`, "-o", "json"],
    ["secrets", "set", "--env-file", run.envFile, `--remote=${REF}`, "--yes"],
    ["db", "push", `--remote=${REF}`, "--yes"],
    ["functions", "deploy", "upload-to-s3", "--use-api", `--remote=${REF}`, "--yes"],
    ["functions", "deploy", "s3-image-service", "--use-api", `--remote=${REF}`, "--yes"],
  ]);
  assert.deepEqual(run.health, [
    {
      path: "/functions/v1/upload-to-s3/health?deep=true",
      apikey: ANON_KEY,
      authorization: `Bearer ${ANON_KEY}`,
    },
    {
      path: "/functions/v1/s3-image-service/health?deep=true",
      apikey: ANON_KEY,
      authorization: `Bearer ${ANON_KEY}`,
    },
  ]);
  assert.match(run.output, /\/functions\/v1\/upload-to-s3\n/);
  assert.match(run.output, /\/functions\/v1\/s3-image-service\n/);
  assertNoSecretShown(run);
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
  assert.deepEqual(run.calls.filter(isChanging), [
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
      `supabase projects api-keys --remote=${REF} -o json`,
      `supabase secrets set --env-file ${run.envFile} --remote=${REF} --yes`,
      `supabase db push --remote=${REF} --yes`,
      `supabase functions deploy upload-to-s3 --use-api --remote=${REF} --yes`,
      `supabase functions deploy s3-image-service --use-api --remote=${REF} --yes`,
      `scripts/deploy/configure_bucket.ts --env-file ${run.envFile} --cors-origin https://admin.example.com`,
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
  assert.ok(!run.calls.some((call) => call[0] === "functions"));
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

Deno.test("deploy: --db-url pushes to that database and never shows its password", async () => {
  const url =
    "postgresql://postgres.abcdefghijklmnopqrst:Pa55word-x9@aws-0-eu-west-1.pooler.supabase.com:5432/postgres";
  const run = await deploy(["--project-ref", REF, "--db-url", url, "--skip-smoke"]);
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.calls.find((c) => c[0] === "db"), [
    "db",
    "push",
    `--remote=${url}`,
    "--yes",
  ]);
  assert.ok(!run.output.includes("Pa55word-x9"), run.output);
  assert.match(run.output, /postgres\.abcdefghijklmnopqrst:\*\*\*@aws-0-eu-west-1/);
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

Deno.test("deploy: a project without legacy keys is smoke-tested with its publishable key as apikey only", async () => {
  const run = await deploy(["--project-ref", REF, "--skip-migrations", "upload-to-s3"], {
    env: { FAKE_ANON_KEY: "", FAKE_SERVICE_ROLE_KEY: "" },
  });
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.health, [{
    path: "/functions/v1/upload-to-s3/health?deep=true",
    apikey: PUBLISHABLE_KEY,
    authorization: null,
  }]);
  assertNoSecretShown(run);
});

Deno.test("deploy: with no key for the smoke test it stops at the check, before any change", async () => {
  const run = await deploy(["--project-ref", REF, "--env-file", "{envFile}"], {
    env: { FAKE_ANON_KEY: "", FAKE_PUBLISHABLE_KEY: "" },
  });
  assert.equal(run.code, 1);
  assert.match(run.output, /no anon or publishable key for the smoke test.*--skip-smoke/);
  assert.deepEqual(run.calls.filter(isChanging), []);

  const skipped = await deploy(["--project-ref", REF, "--skip-smoke"], {
    env: { FAKE_ANON_KEY: "", FAKE_PUBLISHABLE_KEY: "" },
  });
  assert.equal(skipped.code, 0, skipped.output);
  assert.deepEqual(skipped.health, []);
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
