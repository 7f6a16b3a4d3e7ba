#!/usr/bin/env bash
# Deploys the kit to a hosted Supabase project with the Supabase CLI v3: function secrets,
# migrations, the stalled-job resumer's Vault entries, both functions, optionally the bucket's CORS
# and lifecycle rules; then checks that the resumer is wired and smoke-tests each function's deep
# health check (and, with --smoke-user, a person's sign-in). docs/deploy.md walks through it.
#
# Every check that needs no network runs before anything changes. Secret values (keys, tokens,
# passwords, a connection string's password) are never printed, on any path: what the script
# shows is built without them, and the CLI's output is shown with them masked. They stay off
# command lines too (ps shows those): the database password reaches the CLI as PGPASSWORD, keys
# reach curl through its config on stdin, the Vault entries a SQL file in a private directory.
# `config push` is never run (it would overwrite the project's auth and API settings with this
# repository's local-development ones), and functions keep `verify_jwt` from supabase/config.toml.
set -euo pipefail
umask 077

readonly ALL_FUNCTIONS=(upload-to-s3 s3-image-service)
readonly REQUIRED_SECRETS=(S3_BUCKET AWS_REGION AWS_ACCESS_KEY AWS_SECRET_ACCESS_KEY)
# Values copied unchanged from .env.example: deploying them would fail only at the first upload.
readonly PLACEHOLDERS=(AKIAEXAMPLEEXAMPLE replace-me my-product-images)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT

usage() {
  cat <<'EOF'
Usage: ./deploy-s3-function.sh [options] [function...]

Deploys s3-image-cache to a hosted Supabase project, in this order:
  1. check      the access token and project ref (read-only: lists the project's API keys,
                with --reveal for the secret key the resumer needs; nothing of it is printed)
  2. secrets    supabase secrets set --env-file FILE          (only with --env-file)
  3. migrations supabase db push --remote=<ref> --yes
  4. vault      the stalled-job resumer's Vault entries s3_image_cache_project_url and
                s3_image_cache_secret_key (supabase db query -f <file>; values never shown)
  5. functions  supabase functions deploy <name> --use-api --remote=<ref> --yes, for each
                function (both, or the ones named: upload-to-s3, s3-image-service)
  6. events     live sync (only with --configure-events; docs/events.md): the function secret
                EVENTS_SECRET, then on AWS S3 (no S3_ENDPOINT), with the aws CLI and
                --events-role-arn: EventBridge on for the bucket, a connection sending
                `Authorization: Bearer <secret>`, an API destination to /s3-image-service/events,
                a rule on Object Created / Object Deleted and its target with a retry policy
                (and --events-dlq-arn as dead-letter queue). What it cannot do is printed.
  7. bucket     CORS rule and a lifecycle rule expiring _incoming/ after 1 day
                (only with --configure-bucket; scripts/deploy/configure_bucket.ts)
  8. resumer    read-only query: both Vault entries and the pg_cron job exist
  9. smoke test GET <functions url>/<name>/health?deep=true with the project's secret key;
                with --smoke-user, a person signs in and calls GET /s3-image-service/stats

Options:
  --project-ref REF    the project (20 lowercase letters); default $SUPABASE_PROJECT_REF
  --env-file FILE      function secrets to set (see .env.example). Checked before anything
                       changes: S3_BUCKET, AWS_REGION, AWS_ACCESS_KEY, AWS_SECRET_ACCESS_KEY
                       set, no SUPABASE_* names (Supabase injects those itself). For Supabase
                       Storage's S3 endpoint (S3_ENDPOINT on supabase.co) also
                       S3_CONDITIONAL_WRITES=false.
  --db-url URL         send the database commands (db push, the Vault entries and the resumer
                       check) to this Postgres URL instead of the project, e.g. the session
                       pooler's (the direct host is IPv6-only). Its password is never printed
                       nor put on a command line: the CLI gets it as PGPASSWORD.
  --include-all        pass --include-all to db push (local migrations older than the remote's
                       newest one)
  --skip-vault         do not write the resumer's Vault entries (they are still checked), and
                       list the API keys without --reveal
  --configure-bucket   apply the bucket's CORS and lifecycle rules (needs --env-file; the
                       credentials may be overridden with BUCKET_ADMIN_ACCESS_KEY and
                       BUCKET_ADMIN_SECRET_ACCESS_KEY, see docs/deploy.md)
  --cors-origin ORIGIN allowed browser origin for the CORS rule (repeatable; default *)
  --configure-events   set up live sync (step 6). The secret comes from EVENTS_SECRET (the
                       environment, else the env file), else from --events-secret-file
  --events-secret-file FILE
                       read the events secret from FILE; when FILE does not exist, a new
                       secret is generated and written there (mode 600), never printed
  --events-role-arn ARN
                       IAM role EventBridge assumes to call the API destination (needs
                       events:InvokeApiDestination); without it the AWS side is printed, not done
  --events-dlq-arn ARN SQS queue for events EventBridge gave up on (optional)
  --smoke-user EMAIL   after the health checks, sign in as this user through the Auth API
                       (password from $SMOKE_USER_PASSWORD) and call GET
                       /s3-image-service/stats with the user's token: 200 proves a manager
                       or admin can work. Without it, user sign-in is not checked.
  --skip-migrations    do not run db push
  --skip-smoke         do not call the health checks (nor sign anyone in)
  --dry-run            print every step and its exact command; change nothing
  -h, --help           this help

Environment:
  SUPABASE_ACCESS_TOKEN   personal access token (or run `supabase login` once)
  SUPABASE_PROJECT_REF    default for --project-ref
  SUPABASE_CLI            path of the Supabase CLI (default: `supabase` on PATH when it is v3,
                          else node_modules/.bin/supabase)
  SMOKE_USER_PASSWORD     the --smoke-user's password (never printed)
  EVENTS_SECRET           --configure-events: the events endpoint's bearer secret (never printed)
  SUPABASE_ANON_KEY       public key for the user's sign-in and /stats call (default: the
                          project's legacy anon key, else its publishable key)
  SUPABASE_URL            the project URL (default https://<ref>.supabase.co): stored in Vault
                          for the resumer, and the Auth API --smoke-user signs in with
  SUPABASE_FUNCTIONS_URL  functions base URL (default $SUPABASE_URL/functions/v1)

Example:
  SUPABASE_ACCESS_TOKEN=sbp_... SMOKE_USER_PASSWORD=... ./deploy-s3-function.sh \
    --project-ref abcdefghijklmnopqrst --env-file ./prod.env \
    --configure-bucket --cors-origin https://admin.example.com --smoke-user alice@example.com
EOF
}

# --- output helpers -----------------------------------------------------------------------------

MASKED_VALUES=()

# Percent-encodes $1 as encodeURIComponent does: how a URL carries a password.
percent_encode() {
  local LC_ALL=C text="$1" out="" char i
  for ((i = 0; i < ${#text}; i++)); do
    char="${text:i:1}"
    if [[ $char == [A-Za-z0-9_.~!*\'\(\)-] ]]; then
      out+="$char"
    else
      out+="$(printf '%%%02X' "'$char")"
    fi
  done
  printf '%s' "$out"
}

# Decodes the %XX escapes of $1 when every `%` starts one; otherwise prints $1 unchanged (a raw
# password such as `50%off` is not an encoding).
percent_decode() {
  local text="$1" rest="$1"
  while [[ $rest == *%* ]]; do
    rest="${rest#*%}"
    [[ ${rest:0:2} == [0-9A-Fa-f][0-9A-Fa-f] ]] || {
      printf '%s' "$text"
      return
    }
  done
  rest="${text//\\/\\\\}"
  printf '%b' "${rest//%/\\x}"
}

# Remembers a secret value and the forms a program might print it in (percent-encoded or decoded,
# JSON-escaped, shell-quoted), so that redact() masks each of them.
mask_secret() {
  local value="$1" json
  [ -n "$value" ] || return 0
  json="${value//\\/\\\\}"
  json="${json//\"/\\\"}"
  MASKED_VALUES+=("$value" "$(percent_encode "$value")" "$(percent_decode "$value")" "$json"
    "${value//\'/\'\\\'\'}")
}

# Prints stdin with every known secret value replaced by ***, and so any URL's password: from
# `scheme://user:` to the word's last `@` (a password may hold `@`, `:` or `/`), and a
# `password=` parameter.
redact() {
  local text value
  text="$(cat)"
  for value in "${MASKED_VALUES[@]+"${MASKED_VALUES[@]}"}"; do
    [ "${#value}" -ge 4 ] && text="${text//"$value"/***}"
  done
  printf '%s\n' "$text" | sed -E \
    -e 's#([A-Za-z][A-Za-z0-9+.-]*://[^:/@[:space:]]*:)[^[:space:]]*@#\1***@#g' \
    -e 's#([?&]password=)[^&[:space:]]*#\1***#g'
}

say() { printf '%s\n' "$*" | redact; }

die() {
  printf 'deploy: %s\n' "$*" | redact >&2
  exit 1
}

# Fails the named step, showing the CLI's own message (masked) from the file $2.
step_failed() {
  local step="$1" log="$2" code="$3"
  {
    printf '\ndeploy: step "%s" failed (exit code %s). The command said:\n' "$step" "$code"
    sed 's/^/  | /' "$log"
  } | redact >&2
}

# Quotes a command for display, so it can be copied and run as printed. Callers pass display
# forms (a database URL without its password), never secrets.
show_command() {
  local out="" arg
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@,+*-]+$ ]]; then
      out+="$arg "
    else
      out+="'${arg//\'/\'\\\'\'}' "
    fi
  done
  printf '%s\n' "${out% }"
}

# --- arguments ----------------------------------------------------------------------------------

project_ref="${SUPABASE_PROJECT_REF:-}"
env_file=""
db_url=""
include_all=false
skip_vault=false
configure_bucket=false
configure_events=false
events_secret_file=""
events_role_arn=""
events_dlq_arn=""
cors_origins=()
smoke_user=""
skip_migrations=false
skip_smoke=false
dry_run=false
functions=()

while (($#)); do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --project-ref | --env-file | --db-url | --cors-origin | --smoke-user | --events-secret-file | \
      --events-role-arn | --events-dlq-arn)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --events-secret-file) events_secret_file="$2" ;;
        --events-role-arn) events_role_arn="$2" ;;
        --events-dlq-arn) events_dlq_arn="$2" ;;
        --project-ref) project_ref="$2" ;;
        --env-file) env_file="$2" ;;
        --db-url) db_url="$2" ;;
        --cors-origin) cors_origins+=("$2") ;;
        --smoke-user) smoke_user="$2" ;;
      esac
      shift 2
      ;;
    --project-ref=* | --env-file=* | --db-url=* | --cors-origin=* | --smoke-user=* | \
      --events-secret-file=* | --events-role-arn=* | --events-dlq-arn=*)
      value="${1#*=}"
      case "$1" in
        --events-secret-file=*) events_secret_file="$value" ;;
        --events-role-arn=*) events_role_arn="$value" ;;
        --events-dlq-arn=*) events_dlq_arn="$value" ;;
        --project-ref=*) project_ref="$value" ;;
        --env-file=*) env_file="$value" ;;
        --db-url=*) db_url="$value" ;;
        --cors-origin=*) cors_origins+=("$value") ;;
        --smoke-user=*) smoke_user="$value" ;;
      esac
      shift
      ;;
    --include-all) include_all=true && shift ;;
    --skip-vault) skip_vault=true && shift ;;
    --configure-bucket) configure_bucket=true && shift ;;
    --configure-events) configure_events=true && shift ;;
    --skip-migrations) skip_migrations=true && shift ;;
    --skip-smoke) skip_smoke=true && shift ;;
    --dry-run) dry_run=true && shift ;;
    # Only the option's name is shown: a mistyped `--db-url=…` carries a password.
    -*) die "unknown option ${1%%=*} (see --help)" ;;
    *)
      known=false
      for fn in "${ALL_FUNCTIONS[@]}"; do [ "$1" = "$fn" ] && known=true; done
      # Shown only when it looks like a name: a stray connection string must not be echoed.
      shown_arg="argument $((${#functions[@]} + 1)) after the options"
      [[ $1 =~ ^[A-Za-z0-9_-]{1,64}$ ]] && shown_arg="\"$1\""
      $known || die "unknown function $shown_arg: this kit deploys ${ALL_FUNCTIONS[*]}"
      functions+=("$1")
      shift
      ;;
  esac
done
((${#functions[@]})) || functions=("${ALL_FUNCTIONS[@]}")

# The token and passwords are secrets wherever they appear.
mask_secret "${SUPABASE_ACCESS_TOKEN:-}"
mask_secret "${SUPABASE_DB_PASSWORD:-}"
mask_secret "${SMOKE_USER_PASSWORD:-}"
mask_secret "${EVENTS_SECRET:-}"

# --db-url: the password is taken out of the URL. The CLI gets the URL without it (a command
# line, visible in ps) and the password as PGPASSWORD (CLI 3.1.0 reads it when the URL has
# none); what is printed is the URL with *** in its place. The password runs from the first `:`
# after `scheme://` to the URL's last `@`, so an unencoded `@`, `:` or `/` stays inside it.
db_url_cli=""
db_url_shown=""
db_password=""
if [ -n "$db_url" ]; then
  [[ $db_url =~ ^postgres(ql)?://[^[:space:]]+$ ]] ||
    die "--db-url must be a postgresql:// URL without spaces (the value is not shown: it may hold a password)"
  scheme="${db_url%%://*}://"
  rest="${db_url#*://}"
  if [[ $rest == *@* ]]; then
    userinfo="${rest%@*}"
    host_part="${rest##*@}"
    if [[ $userinfo == *:* ]]; then
      db_password="$(percent_decode "${userinfo#*:}")"
      mask_secret "${userinfo#*:}"
      mask_secret "$db_password"
      userinfo="${userinfo%%:*}"
      db_url_shown="$scheme$userinfo:***@$host_part"
    else
      db_url_shown="$scheme$userinfo@$host_part"
    fi
    db_url_cli="$scheme$userinfo@$host_part"
  else
    db_url_cli="$db_url"
    db_url_shown="$db_url"
  fi
  # A password given as a parameter (`?password=…`) stays in the URL: masked, never shown.
  if [[ $db_url_cli =~ [?\&]password=([^\&]*) ]]; then
    mask_secret "${BASH_REMATCH[1]}"
    db_url_shown="$(printf '%s' "$db_url_shown" | redact)"
  fi
fi

# --- checks that change nothing -----------------------------------------------------------------

[ -n "$project_ref" ] ||
  die "no project ref: pass --project-ref <ref> or set SUPABASE_PROJECT_REF (Dashboard > Project Settings > General)"
[[ $project_ref =~ ^[a-z]{20}$ ]] ||
  die "project ref \"$project_ref\" is not a Supabase project ref (20 lowercase letters)"

if [ -n "$smoke_user" ]; then
  $skip_smoke && die "--smoke-user needs the smoke test: drop --skip-smoke"
  [[ $smoke_user =~ ^[^[:space:][:cntrl:]\"\\]+@[^[:space:][:cntrl:]\"\\]+$ ]] ||
    die "--smoke-user \"$smoke_user\" is not an email address"
  [ -n "${SMOKE_USER_PASSWORD:-}" ] ||
    die "--smoke-user needs the user's password in SMOKE_USER_PASSWORD (read -rs SMOKE_USER_PASSWORD && export SMOKE_USER_PASSWORD)"
  [[ ! $SMOKE_USER_PASSWORD =~ [[:cntrl:]] ]] ||
    die "SMOKE_USER_PASSWORD holds a control character; the smoke test cannot send it"
fi

declare -A secrets=()

# Reads NAME=value lines as the CLI's dotenv reader does for plain files: comments, blank lines
# and `export ` prefixes are skipped, one pair of surrounding quotes is removed.
read_env_file() {
  local line name value number=0
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line="${line#"${line%%[![:space:]]*}"}"
    [[ -z $line || $line == \#* ]] && continue
    line="${line#export }"
    # The line itself is not shown: it may be a pasted secret.
    [[ $line == *=* ]] || die "env file $env_file: line $number is not NAME=value"
    name="${line%%=*}"
    name="${name%"${name##*[![:space:]]}"}"
    value="${line#*=}"
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "env file $env_file: line $number does not start with a valid name"
    secrets["$name"]="$value"
    if [[ $name =~ (KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL) ]]; then mask_secret "$value"; fi
    # A connection URL's password is a secret whatever the variable is called.
    if [[ $value =~ ^[a-z]+://[^:/@]+:(.+)@[^@]*$ ]]; then mask_secret "${BASH_REMATCH[1]}"; fi
  done <"$env_file"
}

supabase_storage=false
if [ -n "$env_file" ]; then
  [[ -f $env_file && -r $env_file ]] || die "env file \"$env_file\" not found or not readable"
  env_file="$(cd "$(dirname "$env_file")" && pwd)/$(basename "$env_file")"
  read_env_file
  problems=()
  for name in "${!secrets[@]}"; do
    [[ $name == SUPABASE_* ]] &&
      problems+=("$name: names starting SUPABASE_ are reserved (Supabase injects SUPABASE_URL, SUPABASE_DB_URL and the keys itself)")
  done
  for name in "${REQUIRED_SECRETS[@]}"; do
    [ -n "${secrets[$name]:-}" ] || problems+=("$name is missing or empty")
  done
  for name in "${!secrets[@]}"; do
    for placeholder in "${PLACEHOLDERS[@]}"; do
      [ "${secrets[$name]}" = "$placeholder" ] &&
        problems+=("$name still has the example value from .env.example")
    done
  done
  endpoint="${secrets[S3_ENDPOINT]:-}"
  # DEPLOY_ALLOW_LOCAL_S3=1 lets this script's own tests use a local emulator.
  if [[ $endpoint =~ ^https?://(localhost|127\.|\[::1\]|0\.0\.0\.0) && -z ${DEPLOY_ALLOW_LOCAL_S3:-} ]]; then
    problems+=("S3_ENDPOINT points at this machine ($endpoint): hosted functions cannot reach it")
  fi
  # Supabase Storage's S3 endpoint: https://<ref>.supabase.co/storage/v1/s3 (or
  # <ref>.storage.supabase.co). It ignores If-None-Match, so uploads must look names up first.
  if [[ $endpoint =~ ^https://[^/]*supabase\.(co|in)(:[0-9]+)?/storage/v1/s3/?$ ]]; then
    supabase_storage=true
    [ "${secrets[S3_CONDITIONAL_WRITES]:-}" = "false" ] ||
      problems+=("S3_CONDITIONAL_WRITES must be false for Supabase Storage's S3 endpoint (it does not honour If-None-Match)")
  fi
  if ((${#problems[@]})); then
    printf 'deploy: env file %s refused, nothing was changed:\n' "$env_file" >&2
    printf '  - %s\n' "${problems[@]}" | sort | redact >&2
    exit 1
  fi
fi

if $configure_bucket; then
  [ -n "$env_file" ] || die "--configure-bucket needs --env-file (it reads S3_BUCKET, AWS_REGION, S3_ENDPOINT)"
  $supabase_storage &&
    die "--configure-bucket: Supabase Storage's S3 endpoint has no CORS or lifecycle API; set CORS in the Storage settings instead (docs/deploy.md)"
fi
((${#cors_origins[@]})) && ! $configure_bucket && die "--cors-origin only applies with --configure-bucket"

# --configure-events: everything it needs is checked here, before anything changes.
if ! $configure_events; then
  [ -z "$events_secret_file$events_role_arn$events_dlq_arn" ] ||
    die "--events-secret-file, --events-role-arn and --events-dlq-arn only apply with --configure-events"
fi
events_secret=""
events_secret_generated=false
events_aws=false
events_bucket=""
events_region=""
if $configure_events; then
  events_secret="${EVENTS_SECRET:-${secrets[EVENTS_SECRET]:-}}"
  if [ -z "$events_secret" ] && [ -n "$events_secret_file" ]; then
    if [ -e "$events_secret_file" ]; then
      [[ -f $events_secret_file && -r $events_secret_file ]] ||
        die "--events-secret-file \"$events_secret_file\" is not a readable file"
      events_secret="$(head -n 1 "$events_secret_file" | tr -d '[:space:]')"
      [ -n "$events_secret" ] || die "--events-secret-file \"$events_secret_file\" is empty"
    else
      [ -d "$(dirname "$events_secret_file")" ] ||
        die "--events-secret-file: the folder of \"$events_secret_file\" does not exist"
      events_secret_generated=true
    fi
  fi
  if [ -z "$events_secret" ] && ! $events_secret_generated; then
    die "--configure-events needs the events secret: EVENTS_SECRET in the environment or the env file, or --events-secret-file FILE (read, or written with a new secret when FILE does not exist)"
  fi
  if [ -n "$events_secret" ]; then
    mask_secret "$events_secret"
    # It travels in a header and a JSON document: long, and nothing that needs quoting.
    [[ $events_secret =~ ^[A-Za-z0-9._~+/=-]{32,}$ ]] ||
      die "the events secret must be at least 32 characters of A-Z a-z 0-9 . _ ~ + / = - (openssl rand -hex 32 makes one); it is not shown"
  fi
  [ -z "$events_role_arn" ] || [[ $events_role_arn =~ ^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$ ]] ||
    die "--events-role-arn \"$events_role_arn\" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
  [ -z "$events_dlq_arn" ] || [[ $events_dlq_arn =~ ^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$ ]] ||
    die "--events-dlq-arn \"$events_dlq_arn\" is not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)"
  if [ -n "$env_file" ] && [ -z "${secrets[S3_ENDPOINT]:-}" ]; then
    events_bucket="${secrets[S3_BUCKET]}"
    events_region="${secrets[AWS_REGION]}"
    if [ -n "$events_role_arn" ] && command -v aws >/dev/null; then
      events_aws=true
    fi
  fi
fi

# The Supabase CLI: v3 is required (--remote, --yes); v1/v2 take --project-ref and would act on
# whatever project happens to be linked.
cli_major() { "$1" --version 2>/dev/null | grep -oE '[0-9]+' | head -n 1; }
is_v3() {
  local major
  major="$(cli_major "$1" || true)"
  [[ $major =~ ^[0-9]+$ && $major -ge 3 ]]
}
supabase_cli=""
if [ -n "${SUPABASE_CLI:-}" ]; then
  is_v3 "$SUPABASE_CLI" ||
    die "SUPABASE_CLI=$SUPABASE_CLI is not Supabase CLI v3 (it says \"$("$SUPABASE_CLI" --version 2>&1 | head -n 1)\")"
  supabase_cli="$SUPABASE_CLI"
else
  for candidate in "$(command -v supabase || true)" "$ROOT/node_modules/.bin/supabase"; do
    if [[ -n $candidate && -x $candidate ]] && is_v3 "$candidate"; then
      supabase_cli="$candidate"
      break
    fi
  done
fi
[ -n "$supabase_cli" ] ||
  die "Supabase CLI v3 not found: run npm install (it brings v3 into node_modules/.bin), or set SUPABASE_CLI"

$skip_smoke || command -v curl >/dev/null ||
  die "curl not found (the smoke test uses it): apt-get install -y curl, or pass --skip-smoke"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils): the resumer check uses it"

deno_cli=""
if $configure_bucket; then
  if [ -x "$ROOT/node_modules/.bin/deno" ]; then
    deno_cli="$ROOT/node_modules/.bin/deno"
  elif command -v deno >/dev/null; then
    deno_cli="$(command -v deno)"
  else
    die "--configure-bucket needs Deno: run npm install"
  fi
fi

project_url="${SUPABASE_URL:-https://$project_ref.supabase.co}"
project_url="${project_url%/}"
[[ $project_url =~ ^https?://[A-Za-z0-9.-]+(:[0-9]+)?$ ]] ||
  die "SUPABASE_URL \"$project_url\" is not a project URL (https://<host>, no path)"
functions_url="${SUPABASE_FUNCTIONS_URL:-$project_url/functions/v1}"
functions_url="${functions_url%/}"
remote="--remote=$project_ref"
db_target="$remote"
db_target_shown="$remote"
if [ -n "$db_url" ]; then
  db_target="--remote=$db_url_cli"
  db_target_shown="--remote=$db_url_shown"
fi

# --- the steps ----------------------------------------------------------------------------------

cd "$ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step_names=(check)
[ -n "$env_file" ] && step_names+=(secrets)
$skip_migrations || step_names+=(migrations)
$skip_vault || step_names+=(vault)
step_names+=(functions)
$configure_events && step_names+=(events)
$configure_bucket && step_names+=(bucket)
step_names+=(resumer)
$skip_smoke || step_names+=("smoke test")
step_number=0

begin_step() {
  step_number=$((step_number + 1))
  say ""
  say "==> [$step_number/${#step_names[@]}] $1"
}

# Runs a command for step $1, showing it as $2 (the display form: no password in it) or printing
# it under --dry-run; its output is shown masked. The database password reaches the CLI as
# PGPASSWORD, only for commands aimed at --db-url. On failure names the step and exits.
run_step_command() {
  local step="$1" shown="$2" log code
  shift 2
  if $dry_run; then
    say "    would run: $shown"
    return 0
  fi
  say "    \$ $shown"
  log="$work/output.log"
  if with_db_password "$@" >"$log" 2>&1; then
    sed 's/^/    /' "$log" | redact
    return 0
  else
    code=$?
  fi
  step_failed "$step" "$log" "$code"
  on_failure_hint "$step" "$log" | redact >&2
  exit 1
}

# Runs "$@", with PGPASSWORD set when it targets --db-url's database and that URL had a password.
with_db_password() {
  if [ -n "$db_password" ] && [[ " $* " == *" $db_target "* ]]; then
    PGPASSWORD="$db_password" "$@"
  else
    "$@"
  fi
}

# Prints what to do next after step $1 failed with the output in file $2.
on_failure_hint() {
  local step="$1" log="$2"
  if [ "$step" = migrations ] && grep -q "Remote migration versions not found in local migrations directory" "$log"; then
    cat <<EOF

The project's migration history lists versions this repository does not have (applied by hand
or by another tool). See both sides with:
  $(show_command "$supabase_cli" migration list "$db_target_shown")
If those versions are not this kit's, mark them reverted in the history table (this edits only
supabase_migrations.schema_migrations, never your schema), then run the deploy again:
  $(show_command "$supabase_cli" migration repair --status reverted) <version...> $(show_command "$db_target_shown")
EOF
    [ -n "$db_password" ] && printf '(With --db-url, export PGPASSWORD with the password first.)\n'
  elif [ "$step" = migrations ] && grep -q "inserted before the last migration on remote database" "$log"; then
    printf '\nRerun with --include-all to apply local migrations older than the remote newest one.\n'
  elif [ "$step" = check ]; then
    printf '\nCheck the project ref, then log in (supabase login) or export SUPABASE_ACCESS_TOKEN.\n'
    $skip_vault || printf 'Reading the secret keys (--reveal) needs a token allowed api_gateway_keys_secret_read; or pass --skip-vault and store the Vault entries by hand (docs/deploy.md).\n'
  fi
  if [ "$step" != check ] && [ "$step" != secrets ]; then
    printf 'The steps before "%s" were applied; rerunning the deploy repeats them safely.\n' "$step"
  fi
}

$dry_run && say "Dry run: nothing will be changed. Project $project_ref, functions: ${functions[*]}."

# The `role` claim of a JWT (no signature check: only used to tell the legacy keys apart).
jwt_role() {
  local payload="${1#*.}"
  payload="${payload%%.*}"
  payload="$(printf '%s' "$payload" | tr '_-' '/+')"
  while ((${#payload} % 4)); do payload+="="; done
  printf '%s' "$payload" | base64 -d 2>/dev/null |
    sed -n 's/.*"role"[[:space:]]*:[[:space:]]*"\([a-z_]*\)".*/\1/p'
}

# 1. Access and ref, read-only. The listing holds secret keys: it is read, never printed.
#   - service key (Vault, deep health): the first `sb_secret_…` key, read in full with --reveal;
#     else the legacy service_role JWT (works only while the project accepts legacy keys);
#   - public key (the user's sign-in and /stats call): SUPABASE_ANON_KEY, else the legacy anon
#     JWT, else the publishable key.
begin_step check
public_key="${SUPABASE_ANON_KEY:-}"
service_key=""
keys_command=("$supabase_cli" projects api-keys "$remote")
$skip_vault || keys_command+=(--reveal)
keys_command+=(-o json)
keys_shown="$(show_command "${keys_command[@]}")"
if $dry_run; then
  say "    would run: $keys_shown   (read-only; output not shown)"
else
  say "    \$ $keys_shown   (output not shown: it lists secret keys)"
  if "${keys_command[@]}" >"$work/keys.json" 2>"$work/keys.err"; then :; else
    code=$?
    step_failed check "$work/keys.err" "$code"
    on_failure_hint check "$work/keys.err" | redact >&2
    exit 1
  fi
  anon_jwt=""
  service_role_jwt=""
  publishable=""
  secret_key=""
  # Quoted whole values only: without --reveal a secret key is listed shortened, and a shortened
  # key must never be taken for one.
  while IFS= read -r token; do
    token="${token//\"/}"
    if [[ $token == sb_publishable_* ]]; then
      publishable="${publishable:-$token}"
      continue
    fi
    mask_secret "$token"
    if [[ $token == sb_secret_* ]]; then
      secret_key="${secret_key:-$token}"
    elif [[ $(jwt_role "$token") == anon ]]; then
      anon_jwt="${anon_jwt:-$token}"
    elif [[ $(jwt_role "$token") == service_role ]]; then
      service_role_jwt="${service_role_jwt:-$token}"
    fi
  done < <(grep -oE '"(eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|sb_(publishable|secret)_[A-Za-z0-9_-]+)"' \
    "$work/keys.json" || true)
  # The anon JWT is public, but masked like the rest: nothing in the listing needs showing.
  rm -f "$work/keys.json"
  public_key="${public_key:-${anon_jwt:-$publishable}}"
  service_key="${secret_key:-$service_role_jwt}"
  if [ -z "$service_key" ] && ! $skip_vault; then
    die "step \"check\" failed: the project lists no secret key (sb_secret_…) for the stalled-job resumer to call the service with. Create one (Dashboard > Project Settings > API Keys), or pass --skip-vault and store the Vault entries by hand (docs/deploy.md). Nothing was changed."
  fi
  if [ -z "$service_key" ] && [ -z "$public_key" ] && ! $skip_smoke; then
    die "step \"check\" failed: the project lists no API key for the smoke test; set SUPABASE_ANON_KEY or pass --skip-smoke. Nothing was changed."
  fi
  if [ -n "$smoke_user" ] && [ -z "$public_key" ]; then
    die "step \"check\" failed: the project lists no anon or publishable key for --smoke-user to sign in with; set SUPABASE_ANON_KEY. Nothing was changed."
  fi
  if [ -z "$secret_key" ] && [ -n "$service_key" ]; then
    say "    warning: no sb_secret_ key; the legacy service_role key stands in for it, and stops working once legacy API keys are disabled (docs/deploy.md)"
  fi
  say "    access to project $project_ref confirmed"
fi

# 2. Secrets.
if [ -n "$env_file" ]; then
  begin_step "secrets (${#secrets[@]} names from $env_file; values not shown)"
  secrets_command=("$supabase_cli" secrets set --env-file "$env_file" "$remote" --yes)
  run_step_command secrets "$(show_command "${secrets_command[@]}")" "${secrets_command[@]}"
fi

# 3. Migrations.
if ! $skip_migrations; then
  begin_step "migrations"
  push=("$supabase_cli" db push "$db_target" --yes)
  $include_all && push+=(--include-all)
  shown=("$supabase_cli" db push "$db_target_shown" --yes)
  $include_all && shown+=(--include-all)
  run_step_command migrations "$(show_command "${shown[@]}")" "${push[@]}"
fi

# 4. The resumer's Vault entries. `db push` would write `[db.vault]` from config.toml only when
# it has migrations to apply (CLI 3.1.0), so a rerun or a rotated key would never reach Vault:
# this step writes both entries every time, from a file (values never on a command line), in one
# statement that creates or updates each.
if ! $skip_vault; then
  begin_step "vault: s3_image_cache_project_url and s3_image_cache_secret_key (values not shown)"
  vault_sql="$work/resumer_vault.sql"
  vault_command=("$supabase_cli" db query "$db_target" -f "$vault_sql" --agent=no --yes)
  vault_shown="$(show_command "$supabase_cli" db query "$db_target_shown" -f) <file with the two entries> --agent=no --yes"
  if ! $dry_run; then
    # The values go into a SQL literal: only their expected forms are accepted.
    [[ $service_key =~ ^(sb_secret_[A-Za-z0-9_-]+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$ ]] ||
      die "step \"vault\" failed: the secret key has an unexpected form; nothing was written to Vault"
    template="$(cat "$ROOT/scripts/deploy/resumer_vault.sql")"
    template="${template//@PROJECT_URL@/$project_url}"
    printf '%s\n' "${template//@SECRET_KEY@/$service_key}" >"$vault_sql"
  fi
  run_step_command vault "$vault_shown" "${vault_command[@]}"
  rm -f "$vault_sql"
fi

# 5. Functions, one call each so a failure names the function.
begin_step "functions: ${functions[*]}"
for fn in "${functions[@]}"; do
  deploy_command=("$supabase_cli" functions deploy "$fn" --use-api "$remote" --yes)
  run_step_command "functions ($fn)" "$(show_command "${deploy_command[@]}")" "${deploy_command[@]}"
done

# 6. Live sync (docs/events.md): the secret, then what the aws CLI can set up on AWS S3.
events_name="s3-image-cache-events"
events_url="$functions_url/s3-image-service/events"

# Runs an aws call for the events step and prints its output (masked) to stdout for parsing,
# or under --dry-run shows it and prints $1 (a placeholder for what it would have answered).
aws_events_call() {
  local placeholder="$1" display="$2" code
  shift 2
  if $dry_run; then
    say "    would run: $display" >&2
    printf '%s' "$placeholder"
    return 0
  fi
  say "    \$ $display" >&2
  if "$@" >"$work/aws.out" 2>"$work/aws.err"; then
    redact <"$work/aws.out"
    return 0
  fi
  code=$?
  step_failed events "$work/aws.err" "$code"
  printf 'The function secret is set; rerunning the deploy with --configure-events repeats every step safely.\n' >&2
  exit 1
}

# Whether an aws "describe" call finds the named resource (read-only; never under --dry-run).
aws_exists() {
  $dry_run && return 1
  "$@" >/dev/null 2>&1
}

# The value of "$1" in the JSON on stdin (a string field).
json_string_field() { tr -d '\n' | sed -nE "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\".*/\1/p"; }

events_manual() {
  say "    NOT DONE (do it by hand, docs/events.md): $*"
}

if $configure_events; then
  begin_step "events: live sync to $events_url"
  if $events_secret_generated; then
    if $dry_run; then
      say "    would generate a new events secret and write it to $events_secret_file (mode 600; not shown)"
    else
      events_secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      mask_secret "$events_secret"
      printf '%s\n' "$events_secret" >"$events_secret_file"
      chmod 600 "$events_secret_file"
      say "    generated a new events secret in $events_secret_file (mode 600; not shown)"
    fi
  fi
  events_env="$work/events.env"
  $dry_run || printf 'EVENTS_SECRET=%s\n' "$events_secret" >"$events_env"
  events_secret_command=("$supabase_cli" secrets set --env-file "$events_env" "$remote" --yes)
  run_step_command events "$(show_command "$supabase_cli" secrets set --env-file) <file with EVENTS_SECRET> $(show_command "$remote" --yes)" "${events_secret_command[@]}"
  rm -f "$events_env"

  if $events_aws; then
    region=(--region "$events_region")
    # EventBridge delivery is switched on by the bucket's notification configuration, which
    # put-bucket-notification-configuration replaces whole: a bucket that already notifies SNS,
    # SQS or Lambda is left alone (those would be deleted).
    current="$(aws_events_call "{}" "$(show_command aws s3api get-bucket-notification-configuration --bucket "$events_bucket" "${region[@]}" --output json)   (read-only)" \
      aws s3api get-bucket-notification-configuration --bucket "$events_bucket" "${region[@]}" --output json)"
    if [[ $current =~ (Topic|Queue|LambdaFunction)Configurations ]]; then
      events_manual "the bucket $events_bucket already has other notifications, which put-bucket-notification-configuration would delete: turn on Amazon EventBridge in the console (bucket > Properties > Event notifications)"
    else
      aws_events_call "" "$(show_command aws s3api put-bucket-notification-configuration --bucket "$events_bucket" "${region[@]}" --notification-configuration '{"EventBridgeConfiguration":{}}')" \
        aws s3api put-bucket-notification-configuration --bucket "$events_bucket" "${region[@]}" \
        --notification-configuration '{"EventBridgeConfiguration":{}}' >/dev/null
    fi

    # The connection holds the secret (EventBridge keeps it in Secrets Manager); it reaches the
    # aws CLI in a file, never on its command line.
    auth_file="$work/events-auth.json"
    $dry_run || printf '{"ApiKeyAuthParameters":{"ApiKeyName":"Authorization","ApiKeyValue":"Bearer %s"}}\n' \
      "$events_secret" >"$auth_file"
    verb=create-connection
    aws_exists aws events describe-connection --name "$events_name" "${region[@]}" && verb=update-connection
    connection_command=(aws events "$verb" --name "$events_name" "${region[@]}" --authorization-type API_KEY
      --auth-parameters "file://$auth_file")
    connection="$(aws_events_call '"ConnectionArn": "<connection ARN>"' "$(show_command aws events "$verb" --name "$events_name" "${region[@]}" --authorization-type API_KEY --auth-parameters) file://<file with Authorization: Bearer <secret>>" \
      "${connection_command[@]}")"
    rm -f "$auth_file"
    connection_arn="$(printf '%s' "$connection" | json_string_field ConnectionArn)"
    [ -n "$connection_arn" ] || die "step \"events\": $verb answered no ConnectionArn"

    verb=create-api-destination
    aws_exists aws events describe-api-destination --name "$events_name" "${region[@]}" && verb=update-api-destination
    # 20 a second: a bulk import of thousands of images queues in EventBridge instead of
    # opening as many function invocations at once (docs/events.md, "Rate").
    destination_command=(aws events "$verb" --name "$events_name" "${region[@]}"
      --connection-arn "$connection_arn" --invocation-endpoint "$events_url" --http-method POST
      --invocation-rate-limit-per-second 20)
    destination="$(aws_events_call '"ApiDestinationArn": "<API destination ARN>"' "$(show_command "${destination_command[@]}")" \
      "${destination_command[@]}")"
    destination_arn="$(printf '%s' "$destination" | json_string_field ApiDestinationArn)"
    [ -n "$destination_arn" ] || die "step \"events\": $verb answered no ApiDestinationArn"

    pattern="{\"source\":[\"aws.s3\"],\"detail-type\":[\"Object Created\",\"Object Deleted\"],\"detail\":{\"bucket\":{\"name\":[\"$events_bucket\"]}}}"
    rule_command=(aws events put-rule --name "$events_name" "${region[@]}" --event-pattern "$pattern" --state ENABLED)
    aws_events_call "" "$(show_command "${rule_command[@]}")" "${rule_command[@]}" >/dev/null

    # EventBridge's longest retry: 185 tries over 24 hours, then the dead-letter queue.
    target="{\"Id\":\"s3-image-cache\",\"Arn\":\"$destination_arn\",\"RoleArn\":\"$events_role_arn\",\"RetryPolicy\":{\"MaximumRetryAttempts\":185,\"MaximumEventAgeInSeconds\":86400}"
    [ -n "$events_dlq_arn" ] && target+=",\"DeadLetterConfig\":{\"Arn\":\"$events_dlq_arn\"}"
    target+="}"
    targets_command=(aws events put-targets --rule "$events_name" "${region[@]}" --targets "[$target]")
    aws_events_call "" "$(show_command "${targets_command[@]}")" "${targets_command[@]}" >/dev/null
    say "    ok: $events_bucket's Object Created / Object Deleted events go to $events_url"
    dlq_note=""
    [ -n "$events_dlq_arn" ] && dlq_note=", and the queue's policy must let events.amazonaws.com send messages to it"
    say "    still yours: the role $events_role_arn must allow events:InvokeApiDestination on the destination$dlq_note"
    [ -n "$events_dlq_arn" ] ||
      say "    no dead-letter queue: events EventBridge gives up on after 24 hours are dropped (pass --events-dlq-arn)"
  elif [ -z "$env_file" ]; then
    events_manual "the bucket's side: without --env-file this script does not know the bucket; point its events at $events_url with the secret"
  elif [ -n "${secrets[S3_ENDPOINT]:-}" ]; then
    events_manual "the bucket's side: S3_ENDPOINT is not AWS S3 (MinIO: mc event add; Cloudflare R2: a Queue and its consumer) — point its events at $events_url with the secret"
  elif [ -z "$events_role_arn" ]; then
    events_manual "the AWS side needs --events-role-arn (an IAM role EventBridge assumes to call the API destination); or run the aws commands of docs/events.md"
  else
    events_manual "the AWS side needs the aws CLI (apt-get install -y awscli) with credentials allowed to configure $events_bucket and EventBridge"
  fi
fi

# 7. Bucket rules.
if $configure_bucket; then
  begin_step "bucket: CORS and lifecycle rules"
  bucket_command=("$deno_cli" run --allow-env --allow-net --allow-read --allow-sys
    "$ROOT/scripts/deploy/configure_bucket.ts" --env-file "$env_file")
  for origin in "${cors_origins[@]+"${cors_origins[@]}"}"; do bucket_command+=(--cors-origin "$origin"); done
  run_step_command bucket "$(show_command "${bucket_command[@]}")" "${bucket_command[@]}"
fi

# 8. The resumer is wired: both Vault entries and the pg_cron job exist (read-only query).
begin_step "resumer: Vault entries and the pg_cron job"
check_command=("$supabase_cli" db query "$db_target" --read-only -o json --agent=no
  -f "$ROOT/scripts/deploy/resumer_check.sql")
check_shown="$(show_command "$supabase_cli" db query "$db_target_shown" --read-only -o json --agent=no -f scripts/deploy/resumer_check.sql)"
if $dry_run; then
  say "    would run: $check_shown   (read-only)"
else
  say "    \$ $check_shown   (secret values are not selected)"
  if with_db_password "${check_command[@]}" >"$work/check.json" 2>"$work/check.err"; then :; else
    code=$?
    step_failed resumer "$work/check.err" "$code"
    on_failure_hint resumer "$work/check.err" | redact >&2
    exit 1
  fi
  answer="$(tr -d '\n' <"$work/check.json")"
  json_field() { printf '%s' "$answer" | sed -nE "s/.*\"$1\"[[:space:]]*:[[:space:]]*(\"[^\"]*\"|[a-z0-9]+).*/\1/p"; }
  stored_url="$(json_field project_url)"
  stored_key="$(json_field secret_key_stored)"
  stored_hash="$(json_field secret_key_sha256)"
  cron_jobs="$(json_field cron_jobs)"
  missing=()
  if [ "$stored_url" = null ] || [ -z "$stored_url" ]; then
    missing+=("Vault entry s3_image_cache_project_url is missing")
  elif [ "$stored_url" != "\"$project_url\"" ]; then
    missing+=("Vault entry s3_image_cache_project_url is $stored_url, not \"$project_url\"")
  fi
  if [ "$stored_key" != true ]; then
    missing+=("Vault entry s3_image_cache_secret_key is missing or empty")
  elif ! $skip_vault && [ "$stored_hash" != "\"$(printf '%s' "$service_key" | sha256sum | cut -d' ' -f1)\"" ]; then
    missing+=("Vault entry s3_image_cache_secret_key is not the key this deploy stored")
  fi
  if [ "$cron_jobs" = null ] || [ -z "$cron_jobs" ]; then
    missing+=("pg_cron is not installed (cron.job does not exist): enable the pg_cron extension, then rerun")
  elif ! [[ $cron_jobs =~ ^[1-9][0-9]*$ ]]; then
    missing+=("no active pg_cron job s3-image-cache-resume-stalled-jobs (its migration logs why in a warning; docs/deploy.md)")
  fi
  if ((${#missing[@]})); then
    {
      printf '\ndeploy: step "resumer" failed: a stalled rebuild would not resume on its own:\n'
      printf '  - %s\n' "${missing[@]}"
      printf 'Everything before it was deployed; rerunning the deploy repeats it safely.\n'
    } | redact >&2
    exit 1
  fi
  say "    ok: Vault entries s3_image_cache_project_url ($project_url) and s3_image_cache_secret_key, pg_cron job s3-image-cache-resume-stalled-jobs"
fi

# 9. Smoke test: each function's deep health check (bucket and database reachable), then a
# person's sign-in. Keys and tokens reach curl through its config on stdin, never its command line.
curl_with_headers() {
  local headers="$1"
  shift
  printf '%s\n' "$headers" | curl -sS --max-time 60 -K - "$@"
}

if ! $skip_smoke; then
  begin_step "smoke test"
  failed_checks=()
  # The deep checks run for the secret key (or an admin); a public key may get the shallow answer.
  health_key="${service_key:-$public_key}"
  for fn in "${functions[@]}"; do
    url="$functions_url/$fn/health?deep=true"
    if $dry_run; then
      say "    would run: curl -sS --max-time 60 -H 'apikey: <secret key>' $(show_command "$url")"
      continue
    fi
    # Only a JWT goes in Authorization: the gateway refuses an API key there.
    headers="header = \"apikey: $health_key\""
    [[ $health_key == eyJ* ]] && headers+=$'\n'"header = \"Authorization: Bearer $health_key\""
    status="$(curl_with_headers "$headers" -o "$work/health.json" -w '%{http_code}' "$url" \
      2>"$work/curl.err" || true)"
    body="$(head -c 2000 "$work/health.json" 2>/dev/null || true)"
    if [ "$status" = 200 ] && [[ $body =~ \"ok\"[[:space:]]*:[[:space:]]*true ]]; then
      if [[ $body == *'"checks"'* ]]; then
        say "    ok: $fn ($url)"
      else
        say "    ok: $fn answers, but without its deep checks (bucket and database not checked: this key may not run them)"
      fi
    else
      [ "$status" = 000 ] && body="$(cat "$work/curl.err")"
      say "    FAILED: $fn answered HTTP $status: $body" >&2
      [ "$status" = 401 ] &&
        say "    (401: the function did not accept the key; see docs/deploy.md, \"Which kind of project is this?\")" >&2
      failed_checks+=("$fn")
    fi
  done

  if [ -z "$smoke_user" ]; then
    say "    NOT CHECKED: user sign-in. Pass --smoke-user EMAIL (password in SMOKE_USER_PASSWORD) to sign a manager or admin in and call /s3-image-service/stats."
  elif $dry_run; then
    say "    would run: curl -sS --max-time 60 -H 'apikey: <public key>' --data-binary <email and password> $(show_command "$project_url/auth/v1/token?grant_type=password")"
    say "    would run: curl -sS --max-time 60 -H 'apikey: <public key>' -H 'Authorization: Bearer <the user's token>' $(show_command "$functions_url/s3-image-service/stats")"
  else
    # The body goes through a file in the private work directory: the password never reaches a
    # command line. Its JSON escaping covers what a password may hold (no control characters).
    json_string() {
      local value="${1//\\/\\\\}"
      printf '"%s"' "${value//\"/\\\"}"
    }
    printf '{"email":%s,"password":%s}' "$(json_string "$smoke_user")" \
      "$(json_string "$SMOKE_USER_PASSWORD")" >"$work/sign_in.json"
    sign_in_url="$project_url/auth/v1/token?grant_type=password"
    status="$(curl_with_headers "header = \"apikey: $public_key\""$'\n'"header = \"Content-Type: application/json\"" \
      -o "$work/session.json" -w '%{http_code}' --data-binary "@$work/sign_in.json" "$sign_in_url" \
      2>"$work/curl.err" || true)"
    rm -f "$work/sign_in.json"
    user_token="$(sed -nE 's/.*"access_token"[[:space:]]*:[[:space:]]*"([^"]+)".*/\1/p' "$work/session.json" 2>/dev/null | head -n 1 || true)"
    refresh_token="$(sed -nE 's/.*"refresh_token"[[:space:]]*:[[:space:]]*"([^"]+)".*/\1/p' "$work/session.json" 2>/dev/null | head -n 1 || true)"
    mask_secret "$user_token"
    mask_secret "$refresh_token"
    if [ "$status" != 200 ] || [ -z "$user_token" ]; then
      body="$(head -c 500 "$work/session.json" 2>/dev/null || true)"
      [ "$status" = 000 ] && body="$(cat "$work/curl.err")"
      rm -f "$work/session.json"
      say "    FAILED: sign-in of $smoke_user answered HTTP $status: $body" >&2
      failed_checks+=("sign-in of $smoke_user")
    else
      rm -f "$work/session.json"
      say "    ok: $smoke_user signed in ($project_url/auth/v1/token)"
      stats_url="$functions_url/s3-image-service/stats"
      status="$(curl_with_headers "header = \"apikey: $public_key\""$'\n'"header = \"Authorization: Bearer $user_token\"" \
        -o "$work/stats.json" -w '%{http_code}' "$stats_url" 2>"$work/curl.err" || true)"
      body="$(head -c 500 "$work/stats.json" 2>/dev/null || true)"
      if [ "$status" = 200 ]; then
        say "    ok: $smoke_user read $stats_url"
      else
        [ "$status" = 000 ] && body="$(cat "$work/curl.err")"
        say "    FAILED: $stats_url answered $smoke_user's token with HTTP $status: $body" >&2
        case "$status" in
          401) say "    (401: the function refused the user's token: see docs/deploy.md, \"Which kind of project is this?\")" >&2 ;;
          403) say "    (403: the user has no manager or admin role: docs/deploy.md, step 7)" >&2 ;;
        esac
        failed_checks+=("/stats as $smoke_user")
      fi
    fi
  fi
  if ((${#failed_checks[@]})); then
    failed_list="$(printf '%s, ' "${failed_checks[@]}")"
    die "step \"smoke test\" failed for: ${failed_list%, }. Everything before it was deployed; see the answers above (503 names the failing check: bucket or database)."
  fi
fi

say ""
if $dry_run; then
  say "Dry run complete: nothing was changed."
else
  say "Deployed to project $project_ref. Function URLs:"
fi
for fn in "${functions[@]}"; do say "  $functions_url/$fn"; done
