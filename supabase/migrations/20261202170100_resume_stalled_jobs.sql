-- Stalled rebuild jobs resume on their own, with nobody watching.
--
-- Why: a rebuild goes on in self-calls of s3-image-service; if an isolate dies mid-slice (or a
-- chain reaches its hop cap) the job's lease runs out and, until now, only a status or start call
-- (someone with the admin UI open) handed it to a new worker. Here pg_cron runs every minute a
-- function that, only when a running job's lease has expired, asks the service through pg_net
-- (`POST /functions/v1/s3-image-service/rebuild/resume` with a secret key), so the job finishes
-- within about two minutes of its worker's death.
--
-- Where pg_cron or pg_net is missing (a bare Postgres, the local stack: its own scheduler makes
-- the same call) the schedule is skipped cleanly and everything else works as before.
--
-- The function's URL and key come from Supabase Vault, never from this file: the deploy script
-- writes both entries (scripts/deploy/resumer_vault.sql) and then checks them and the cron job
-- (resumer_check.sql); by hand it is, once, in the SQL editor (docs/deploy.md):
--   select vault.create_secret('https://<ref>.supabase.co', 's3_image_cache_project_url'),
--          vault.create_secret('<sb_secret_… key>', 's3_image_cache_secret_key');
--
-- Safe to run again: the function is created with `create or replace`, extensions with
-- `if not exists`, and cron.schedule replaces the job of the same name.

set client_min_messages = warning;

-- Asks s3-image-service to resume a running job whose lease has expired. Returns pg_net's request
-- id, or null when nothing needed resuming or the call cannot be made (a warning says why).
-- pg_net and Vault are reached through dynamic SQL, so the function compiles (and the linter
-- passes) where they are not installed. Owner only: pg_cron runs it as the migration's role.
--   select s3_image_cache_private.s3_cache_resume_stalled_jobs();
create or replace function s3_image_cache_private.s3_cache_resume_stalled_jobs()
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  base_url text;
  secret_key text;
  request_id bigint;
begin
  -- A job needs a worker when it runs, its lease is free, and it is not a listed reconcile
  -- waiting for a person (the same rule as the service's kickIfStalled).
  if not exists (
    select from public.s3_cache_rebuilds as r
    where r.status = 'running'
      and (r.lease_expires_at is null or r.lease_expires_at <= pg_catalog.clock_timestamp())
      and not (
        r.mode = 'reconcile' and r.listing_complete
        and not coalesce((r.summary ->> 'apply')::boolean, false)
      )
  ) then
    return null;
  end if;
  if pg_catalog.to_regclass('vault.decrypted_secrets') is null
    or pg_catalog.to_regnamespace('net') is null then
    raise warning 'A stalled rebuild cannot be resumed from the database: Vault or pg_net is missing';
    return null;
  end if;
  -- Built with format(): a constant string would be checked against a schema that may not exist.
  execute pg_catalog.format($sql$
    select
      (select s.decrypted_secret from %1$I.decrypted_secrets as s
       where s.name = 's3_image_cache_project_url' limit 1),
      (select s.decrypted_secret from %1$I.decrypted_secrets as s
       where s.name = 's3_image_cache_secret_key' limit 1)
  $sql$, 'vault') into base_url, secret_key;
  if base_url is null or secret_key is null then
    raise warning 'A stalled rebuild cannot be resumed from the database: store the Vault secrets s3_image_cache_project_url and s3_image_cache_secret_key (docs/deploy.md)';
    return null;
  end if;
  execute pg_catalog.format($sql$
    select %I.http_post(
      url := $1,
      body := '{}'::jsonb,
      headers := $2,
      timeout_milliseconds := 10000
    )
  $sql$, 'net')
  into request_id
  using
    pg_catalog.rtrim(base_url, '/') || '/functions/v1/s3-image-service/rebuild/resume',
    pg_catalog.jsonb_build_object(
      'content-type', 'application/json',
      'apikey', secret_key,
      'authorization', 'Bearer ' || secret_key
    );
  return request_id;
end;
$$;
revoke all on function s3_image_cache_private.s3_cache_resume_stalled_jobs() from public, anon, authenticated;

-- Every minute, where pg_cron and pg_net exist (hosted Supabase has both).
do $$
begin
  if not exists (select from pg_catalog.pg_available_extensions where name = 'pg_cron')
    or not exists (select from pg_catalog.pg_available_extensions where name = 'pg_net') then
    raise notice 'pg_cron or pg_net is not available: stalled rebuilds are not scheduled here';
    return;
  end if;
  begin
    create extension if not exists pg_cron with schema pg_catalog;
    create extension if not exists pg_net with schema extensions;
    execute $sql$
      select cron.schedule(
        's3-image-cache-resume-stalled-jobs',
        '* * * * *',
        'select s3_image_cache_private.s3_cache_resume_stalled_jobs()'
      )
    $sql$;
  exception when others then
    -- E.g. pg_cron installed but not preloaded: the kit works without the schedule.
    raise warning 'Stalled rebuilds are not scheduled: %', sqlerrm;
  end;
end;
$$;
