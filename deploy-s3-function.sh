#!/usr/bin/env bash
# Deploys the kit to a hosted Supabase project with the Supabase CLI v3: function secrets,
# migrations, both functions, optionally the bucket's CORS and lifecycle rules, then a smoke test
# of each function's deep health check. docs/deploy.md walks through a first deployment.
#
# Every check that needs no network runs before anything changes. Secret values are never
# printed: the CLI's output is shown with them masked. `config push` is never run (it would
# overwrite the project's auth and API settings with this repository's local-development ones),
# and functions keep `verify_jwt` from supabase/config.toml (no --no-verify-jwt).
set -euo pipefail

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
  1. check      the access token and project ref (read-only: lists the project's API keys)
  2. secrets    supabase secrets set --env-file FILE          (only with --env-file)
  3. migrations supabase db push --remote=<ref> --yes
  4. functions  supabase functions deploy <name> --use-api --remote=<ref> --yes, for each
                function (both, or the ones named: upload-to-s3, s3-image-service)
  5. bucket     CORS rule and a lifecycle rule expiring _incoming/ after 1 day
                (only with --configure-bucket; scripts/deploy/configure_bucket.ts)
  6. smoke test GET <functions url>/<name>/health?deep=true with the project's anon key

Options:
  --project-ref REF    the project (20 lowercase letters); default $SUPABASE_PROJECT_REF
  --env-file FILE      function secrets to set (see .env.example). Checked before anything
                       changes: S3_BUCKET, AWS_REGION, AWS_ACCESS_KEY, AWS_SECRET_ACCESS_KEY
                       set, no SUPABASE_* names (Supabase injects those itself). For Supabase
                       Storage's S3 endpoint (S3_ENDPOINT on supabase.co) also
                       S3_CONDITIONAL_WRITES=false.
  --db-url URL         push migrations to this Postgres URL instead of the project's direct
                       host (which is IPv6-only): e.g. the session pooler's URL. Its password is
                       never printed.
  --include-all        pass --include-all to db push (local migrations older than the remote's
                       newest one)
  --configure-bucket   apply the bucket's CORS and lifecycle rules (needs --env-file; the
                       credentials may be overridden with BUCKET_ADMIN_ACCESS_KEY and
                       BUCKET_ADMIN_SECRET_ACCESS_KEY, see docs/deploy.md)
  --cors-origin ORIGIN allowed browser origin for the CORS rule (repeatable; default *)
  --skip-migrations    do not run db push
  --skip-smoke         do not call the health checks
  --dry-run            print every step and its exact command; change nothing
  -h, --help           this help

Environment:
  SUPABASE_ACCESS_TOKEN   personal access token (or run `supabase login` once)
  SUPABASE_PROJECT_REF    default for --project-ref
  SUPABASE_CLI            path of the Supabase CLI (default: `supabase` on PATH when it is v3,
                          else node_modules/.bin/supabase)
  SUPABASE_ANON_KEY       key for the smoke test (default: the project's legacy anon key, else
                          its publishable key, both read from `supabase projects api-keys`)
  SUPABASE_FUNCTIONS_URL  functions base URL (default https://<ref>.supabase.co/functions/v1)

Example:
  SUPABASE_ACCESS_TOKEN=sbp_... ./deploy-s3-function.sh --project-ref abcdefghijklmnopqrst \
    --env-file ./prod.env --configure-bucket --cors-origin https://admin.example.com
EOF
}

# --- output helpers -----------------------------------------------------------------------------

MASKED_VALUES=()

# Prints stdin with every known secret value replaced by ***.
redact() {
  local text value
  text="$(cat)"
  for value in "${MASKED_VALUES[@]+"${MASKED_VALUES[@]}"}"; do
    [ "${#value}" -ge 4 ] && text="${text//"$value"/***}"
  done
  printf '%s\n' "$text"
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

# Quotes a command for display, so it can be copied and run as printed.
show_command() {
  local out="" arg
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then
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
configure_bucket=false
cors_origins=()
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
    --project-ref | --env-file | --db-url | --cors-origin)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --project-ref) project_ref="$2" ;;
        --env-file) env_file="$2" ;;
        --db-url) db_url="$2" ;;
        --cors-origin) cors_origins+=("$2") ;;
      esac
      shift 2
      ;;
    --project-ref=* | --env-file=* | --db-url=* | --cors-origin=*)
      value="${1#*=}"
      case "$1" in
        --project-ref=*) project_ref="$value" ;;
        --env-file=*) env_file="$value" ;;
        --db-url=*) db_url="$value" ;;
        --cors-origin=*) cors_origins+=("$value") ;;
      esac
      shift
      ;;
    --include-all) include_all=true && shift ;;
    --configure-bucket) configure_bucket=true && shift ;;
    --skip-migrations) skip_migrations=true && shift ;;
    --skip-smoke) skip_smoke=true && shift ;;
    --dry-run) dry_run=true && shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      known=false
      for fn in "${ALL_FUNCTIONS[@]}"; do [ "$1" = "$fn" ] && known=true; done
      $known || die "unknown function \"$1\": this kit deploys ${ALL_FUNCTIONS[*]}"
      functions+=("$1")
      shift
      ;;
  esac
done
((${#functions[@]})) || functions=("${ALL_FUNCTIONS[@]}")

# The token and the database password are secrets wherever they appear.
[ -n "${SUPABASE_ACCESS_TOKEN:-}" ] && MASKED_VALUES+=("$SUPABASE_ACCESS_TOKEN")
if [[ $db_url =~ ^[a-z]+://[^:/@]+:([^@]+)@ ]]; then MASKED_VALUES+=("${BASH_REMATCH[1]}"); fi

# --- checks that change nothing -----------------------------------------------------------------

[ -n "$project_ref" ] ||
  die "no project ref: pass --project-ref <ref> or set SUPABASE_PROJECT_REF (Dashboard > Project Settings > General)"
[[ $project_ref =~ ^[a-z]{20}$ ]] ||
  die "project ref \"$project_ref\" is not a Supabase project ref (20 lowercase letters)"

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
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "env file $env_file: \"$name\" is not a valid name"
    secrets["$name"]="$value"
    if [[ $name =~ (KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL) ]]; then MASKED_VALUES+=("$value"); fi
    # A connection URL's password is a secret whatever the variable is called.
    if [[ $value =~ ^[a-z]+://[^:/@]+:([^@]+)@ ]]; then MASKED_VALUES+=("${BASH_REMATCH[1]}"); fi
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
    printf '  - %s\n' "${problems[@]}" | sort >&2
    exit 1
  fi
fi

if $configure_bucket; then
  [ -n "$env_file" ] || die "--configure-bucket needs --env-file (it reads S3_BUCKET, AWS_REGION, S3_ENDPOINT)"
  $supabase_storage &&
    die "--configure-bucket: Supabase Storage's S3 endpoint has no CORS or lifecycle API; set CORS in the Storage settings instead (docs/deploy.md)"
fi
((${#cors_origins[@]})) && ! $configure_bucket && die "--cors-origin only applies with --configure-bucket"

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

functions_url="${SUPABASE_FUNCTIONS_URL:-https://$project_ref.supabase.co/functions/v1}"
functions_url="${functions_url%/}"
remote="--remote=$project_ref"
db_target="$remote"
[ -n "$db_url" ] && db_target="--remote=$db_url"

# --- the steps ----------------------------------------------------------------------------------

cd "$ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step_names=(check)
[ -n "$env_file" ] && step_names+=(secrets)
$skip_migrations || step_names+=(migrations)
step_names+=(functions)
$configure_bucket && step_names+=(bucket)
$skip_smoke || step_names+=("smoke test")
step_number=0

begin_step() {
  step_number=$((step_number + 1))
  say ""
  say "==> [$step_number/${#step_names[@]}] $1"
}

# Runs a changing command (or prints it under --dry-run); on failure names the step and exits.
run_step_command() {
  local step="$1" log code
  shift
  if $dry_run; then
    say "    would run: $(show_command "$@")"
    return 0
  fi
  say "    \$ $(show_command "$@")"
  log="$work/output.log"
  if "$@" >"$log" 2>&1; then
    sed 's/^/    /' "$log" | redact
    return 0
  else
    code=$?
  fi
  step_failed "$step" "$log" "$code"
  on_failure_hint "$step" "$log" | redact >&2
  exit 1
}

# Prints what to do next after step $1 failed with the output in file $2.
on_failure_hint() {
  local step="$1" log="$2"
  if [ "$step" = migrations ] && grep -q "Remote migration versions not found in local migrations directory" "$log"; then
    cat <<EOF

The project's migration history lists versions this repository does not have (applied by hand
or by another tool). See both sides with:
  $(show_command "$supabase_cli" migration list "$db_target")
If those versions are not this kit's, mark them reverted in the history table (this edits only
supabase_migrations.schema_migrations, never your schema), then run the deploy again:
  $(show_command "$supabase_cli" migration repair --status reverted) <version...> $(show_command "$db_target")
EOF
  elif [ "$step" = migrations ] && grep -q "inserted before the last migration on remote database" "$log"; then
    printf '\nRerun with --include-all to apply local migrations older than the remote newest one.\n'
  elif [ "$step" = check ]; then
    printf '\nCheck the project ref, then log in (supabase login) or export SUPABASE_ACCESS_TOKEN.\n'
  fi
  if [ "$step" != check ] && [ "$step" != secrets ]; then
    printf 'The steps before "%s" were applied; rerunning the deploy repeats them safely.\n' "$step"
  fi
}

$dry_run && say "Dry run: nothing will be changed. Project $project_ref, functions: ${functions[*]}."

# The `role` claim of a JWT (no signature check: only used to tell the anon key from others).
jwt_role() {
  local payload="${1#*.}"
  payload="${payload%%.*}"
  payload="$(printf '%s' "$payload" | tr '_-' '/+')"
  while ((${#payload} % 4)); do payload+="="; done
  printf '%s' "$payload" | base64 -d 2>/dev/null |
    sed -n 's/.*"role"[[:space:]]*:[[:space:]]*"\([a-z_]*\)".*/\1/p'
}

# 1. Access and ref, read-only. The listing holds secret keys: it is read, never printed. The
# smoke test needs a key the gateway lets through: the legacy anon key (a JWT, accepted by
# verify_jwt), else the publishable key (sb_publishable_…, sent as apikey only).
begin_step check
smoke_key="${SUPABASE_ANON_KEY:-}"
keys_command=("$supabase_cli" projects api-keys "$remote" -o json)
if $dry_run; then
  say "    would run: $(show_command "${keys_command[@]}")   (read-only; output not shown)"
else
  say "    \$ $(show_command "${keys_command[@]}")   (output not shown: it lists secret keys)"
  if "${keys_command[@]}" >"$work/keys.json" 2>"$work/keys.err"; then :; else
    code=$?
    step_failed check "$work/keys.err" "$code"
    on_failure_hint check "$work/keys.err" | redact >&2
    exit 1
  fi
  anon_jwt=""
  publishable=""
  while IFS= read -r token; do
    if [[ $token == sb_publishable_* ]]; then
      publishable="${publishable:-$token}"
    elif [[ $token == eyJ* && $(jwt_role "$token") == anon ]]; then
      anon_jwt="${anon_jwt:-$token}"
    else
      MASKED_VALUES+=("$token")
    fi
  done < <(grep -oE 'eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|sb_(publishable|secret)_[A-Za-z0-9_-]+' \
    "$work/keys.json" || true)
  rm -f "$work/keys.json"
  smoke_key="${smoke_key:-${anon_jwt:-$publishable}}"
  if [ -z "$smoke_key" ] && ! $skip_smoke; then
    die "step \"check\" failed: the project lists no anon or publishable key for the smoke test; set SUPABASE_ANON_KEY or pass --skip-smoke. Nothing was changed."
  fi
  say "    access to project $project_ref confirmed"
fi

# 2. Secrets.
if [ -n "$env_file" ]; then
  begin_step "secrets (${#secrets[@]} names from $env_file; values not shown)"
  run_step_command secrets "$supabase_cli" secrets set --env-file "$env_file" "$remote" --yes
fi

# 3. Migrations.
if ! $skip_migrations; then
  begin_step "migrations"
  push=("$supabase_cli" db push "$db_target" --yes)
  $include_all && push+=(--include-all)
  run_step_command migrations "${push[@]}"
fi

# 4. Functions, one call each so a failure names the function.
begin_step "functions: ${functions[*]}"
for fn in "${functions[@]}"; do
  run_step_command "functions ($fn)" "$supabase_cli" functions deploy "$fn" --use-api "$remote" --yes
done

# 5. Bucket rules.
if $configure_bucket; then
  begin_step "bucket: CORS and lifecycle rules"
  bucket_command=("$deno_cli" run --allow-env --allow-net --allow-read --allow-sys
    "$ROOT/scripts/deploy/configure_bucket.ts" --env-file "$env_file")
  for origin in "${cors_origins[@]+"${cors_origins[@]}"}"; do bucket_command+=(--cors-origin "$origin"); done
  run_step_command bucket "${bucket_command[@]}"
fi

# 6. Smoke test: each function's deep health check (bucket and database reachable).
if ! $skip_smoke; then
  begin_step "smoke test"
  failed_checks=()
  for fn in "${functions[@]}"; do
    url="$functions_url/$fn/health?deep=true"
    if $dry_run; then
      say "    would run: curl -sS --max-time 60 -H 'apikey: <anon key>' -H 'Authorization: Bearer <anon key>' $(show_command "$url")"
      continue
    fi
    # The key goes through curl's config on stdin, not its command line (visible in ps). Only a
    # JWT goes in Authorization: the gateway refuses an API key there.
    headers="header = \"apikey: $smoke_key\""
    [[ $smoke_key == eyJ* ]] && headers+=$'\n'"header = \"Authorization: Bearer $smoke_key\""
    status="$(printf '%s\n' "$headers" |
      curl -sS --max-time 60 -o "$work/health.json" -w '%{http_code}' -K - "$url" 2>"$work/curl.err" ||
      true)"
    body="$(head -c 2000 "$work/health.json" 2>/dev/null || true)"
    if [ "$status" = 200 ] && [[ $body =~ \"ok\"[[:space:]]*:[[:space:]]*true ]]; then
      say "    ok: $fn ($url)"
    else
      [ "$status" = 000 ] && body="$(cat "$work/curl.err")"
      say "    FAILED: $fn answered HTTP $status: $body" >&2
      [ "$status" = 401 ] &&
        say "    (401 comes from the gateway's verify_jwt or the function: the key was not accepted)" >&2
      failed_checks+=("$fn")
    fi
  done
  if ((${#failed_checks[@]})); then
    die "step \"smoke test\" failed for: ${failed_checks[*]}. Everything before it was deployed; see the answers above (503 names the failing check: bucket or database)."
  fi
fi

say ""
if $dry_run; then
  say "Dry run complete: nothing was changed."
else
  say "Deployed to project $project_ref. Function URLs:"
fi
for fn in "${functions[@]}"; do say "  $functions_url/$fn"; done
