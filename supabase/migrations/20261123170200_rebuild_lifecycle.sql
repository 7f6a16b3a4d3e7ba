-- The job lifecycle: the primitives the s3-image-service worker (and a DBA in psql) calls by name
-- to start a job, claim it, note what happened, and end it without applying it (fail, cancel),
-- plus force, and the lock that makes them refuse a job that is not running in the same words.
--
-- Why this exists: at most one job runs, and at most one worker drives it at a time, even when
-- isolates die, self-calls overlap or two admins press the button together. The database decides
-- (a unique index for "one running job", a lease with an expiry for "one worker"), so no caller
-- has to be trusted with it. Staging pages is in ..._rebuild_staging.sql; applying a job, in
-- ..._rebuild_apply.sql.
--
-- Safe to run again: every function is created here and nowhere else, with create or replace.

set client_min_messages = warning;

-- Starts a job unless one is running. Returns {started: true, job} or {started: false, job: the
-- running job, message}. Two concurrent calls yield one job: the partial unique index decides.
-- `force`: finish applies the job even when it removes more than half of the index (without it,
-- such a finish ends as needs_confirmation and changes nothing); an admin sets it after reading
-- the held job's summary.guard. Removals remembered for earlier jobs are forgotten here.
--   select s3_cache_rebuild_start('admin@example.com');
--   select s3_cache_rebuild_start('admin@example.com', 'reconcile');
--   select s3_cache_rebuild_start('admin@example.com', 'rebuild', force => true);
create or replace function public.s3_cache_rebuild_start(
  started_by text,
  mode text default 'rebuild',
  force boolean default false
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds;
begin
  if s3_cache_rebuild_start.mode is null
    or s3_cache_rebuild_start.mode not in ('rebuild', 'reconcile') then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot start a rebuild: mode must be "rebuild" or "reconcile", got "%s"',
        coalesce(s3_cache_rebuild_start.mode, 'null')
      );
  end if;
  if coalesce(pg_catalog.btrim(s3_cache_rebuild_start.started_by), '') = '' then
    raise exception using
      errcode = '22023', message = 'Cannot start a rebuild: started_by is empty';
  end if;

  -- A running job may end between our insert and our look-up; then simply try again.
  for attempt in 1..5 loop
    insert into public.s3_cache_rebuilds as r (mode, status, started_by, force)
    values (
      s3_cache_rebuild_start.mode, 'running', s3_cache_rebuild_start.started_by,
      coalesce(s3_cache_rebuild_start.force, false)
    )
    on conflict (status) where status = 'running' do nothing
    returning r.* into job;
    if job.id is not null then
      -- Only this job (the one running job) and later ones consult removals, and they all
      -- started after these.
      delete from s3_image_cache_private.s3_cache_removals as d where d.removed_at < job.started_at;
      return pg_catalog.jsonb_build_object('started', true, 'job', pg_catalog.to_jsonb(job));
    end if;

    select r.* into job from public.s3_cache_rebuilds as r where r.status = 'running';
    if job.id is not null then
      return pg_catalog.jsonb_build_object(
        'started', false,
        'job', pg_catalog.to_jsonb(job),
        'message', pg_catalog.format(
          'Rebuild %s is already running (started by %s at %s)',
          job.id, job.started_by, job.started_at
        )
      );
    end if;
  end loop;
  raise exception using
    errcode = '40001',
    message = 'Cannot start a rebuild: jobs keep starting and ending concurrently, try again';
end;
$$;
revoke all on function public.s3_cache_rebuild_start(text, text, boolean) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_start(text, text, boolean) to service_role;

-- Takes or renews the lease on a running job for `worker`: when the lease is free, expired, or
-- already this worker's. Returns the job (continue from its continuation_token), or NULL when
-- another live worker holds it or the job is not running.
--   select s3_cache_rebuild_claim(7, 'edge-3f2a', 60);
create or replace function public.s3_cache_rebuild_claim(
  job_id bigint,
  worker text,
  lease_seconds integer default 60
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds;
begin
  if coalesce(pg_catalog.btrim(s3_cache_rebuild_claim.worker), '') = '' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot claim rebuild %s: the worker name is empty', s3_cache_rebuild_claim.job_id
      );
  end if;
  if s3_cache_rebuild_claim.lease_seconds is null
    or s3_cache_rebuild_claim.lease_seconds not between 1 and 3600 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot claim rebuild %s: lease_seconds must be between 1 and 3600, got %s',
        s3_cache_rebuild_claim.job_id,
        coalesce(s3_cache_rebuild_claim.lease_seconds::text, 'null')
      );
  end if;

  update public.s3_cache_rebuilds as r set
    lease_owner = s3_cache_rebuild_claim.worker,
    lease_seconds = s3_cache_rebuild_claim.lease_seconds,
    lease_expires_at = pg_catalog.clock_timestamp()
      + pg_catalog.make_interval(secs => s3_cache_rebuild_claim.lease_seconds)
  where r.id = s3_cache_rebuild_claim.job_id
    and r.status = 'running'
    and (
      r.lease_owner is null
      or r.lease_owner = s3_cache_rebuild_claim.worker
      or r.lease_expires_at is null
      or r.lease_expires_at <= pg_catalog.clock_timestamp()
    )
  returning r.* into job;
  if job.id is null then
    return null;
  end if;
  return pg_catalog.to_jsonb(job);
end;
$$;
revoke all on function public.s3_cache_rebuild_claim(bigint, text, integer) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_claim(bigint, text, integer) to service_role;

-- Locks and returns a job that must be running, else raises `Cannot <action> rebuild <id>: ...`.
-- Shared by preview, finish, fail, cancel and force so they refuse in the same words.
create or replace function s3_image_cache_private.s3_cache_rebuild_lock_running(job_id bigint, action text)
returns public.s3_cache_rebuilds
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds;
begin
  select r.* into job
  from public.s3_cache_rebuilds as r
  where r.id = s3_cache_rebuild_lock_running.job_id
  for update;
  if job.id is null then
    raise exception using
      errcode = 'P0002',
      message = pg_catalog.format('Rebuild %s does not exist', s3_cache_rebuild_lock_running.job_id);
  end if;
  if job.status <> 'running' then
    raise exception using
      errcode = '55000',
      message = pg_catalog.format(
        'Cannot %s rebuild %s: it is not running (status: %s)',
        s3_cache_rebuild_lock_running.action, job.id, job.status
      );
  end if;
  return job;
end;
$$;
revoke all on function s3_image_cache_private.s3_cache_rebuild_lock_running(bigint, text) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_rebuild_lock_running(bigint, text) to service_role;

-- Merges notes into a job's `summary` (the worker's budget, reconcile's apply flag, its last
-- interruption…): top-level keys of `patch` replace the job's, except `skipped_samples`, which is
-- appended to the job's list and capped at `sample_limit` names, so a long listing of refused
-- keys cannot grow the row without bound. A sample whose key is a direct upload's staging key
-- (under `_incoming/`: it names an upload in flight, and its user) is never kept: it is only
-- counted, in `skipped_staging_keys`, which no patch sets directly.
--   select s3_cache_rebuild_annotate(7, '{"apply": true}');
create or replace function public.s3_cache_rebuild_annotate(
  job_id bigint,
  patch jsonb,
  sample_limit integer default 20
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds;
  samples jsonb;
  staging_keys bigint;
begin
  if s3_cache_rebuild_annotate.patch is null
    or pg_catalog.jsonb_typeof(s3_cache_rebuild_annotate.patch) <> 'object' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot annotate rebuild %s: the patch must be a JSON object', s3_cache_rebuild_annotate.job_id
      );
  end if;
  -- Samples are {key, problem} objects (a bare string is read as the key).
  select
    coalesce(pg_catalog.jsonb_agg(e.value order by e.ordinality) filter (where not e.staging),
      '[]'::jsonb),
    count(*) filter (where e.staging)
  into samples, staging_keys
  from (
    select x.value, x.ordinality, coalesce(pg_catalog.starts_with(
      case pg_catalog.jsonb_typeof(x.value)
        when 'string' then x.value #>> '{}'
        else x.value ->> 'key'
      end, '_incoming/'), false) as staging
    from pg_catalog.jsonb_array_elements(
      coalesce(s3_cache_rebuild_annotate.patch -> 'skipped_samples', '[]'::jsonb)
    ) with ordinality as x (value, ordinality)
  ) as e;

  update public.s3_cache_rebuilds as r set summary =
    coalesce(r.summary, '{}'::jsonb)
    || (s3_cache_rebuild_annotate.patch - 'skipped_samples' - 'skipped_staging_keys')
    || case when s3_cache_rebuild_annotate.patch ? 'skipped_samples' then
      pg_catalog.jsonb_build_object('skipped_samples', (
        select coalesce(pg_catalog.jsonb_agg(e.value order by e.ordinality), '[]'::jsonb)
        from pg_catalog.jsonb_array_elements(
          coalesce(r.summary -> 'skipped_samples', '[]'::jsonb) || samples
        ) with ordinality as e (value, ordinality)
        where e.ordinality <= s3_cache_rebuild_annotate.sample_limit
      ))
    else '{}'::jsonb end
    || case when staging_keys > 0 then
      pg_catalog.jsonb_build_object('skipped_staging_keys',
        coalesce((r.summary ->> 'skipped_staging_keys')::bigint, 0) + staging_keys)
    else '{}'::jsonb end
  where r.id = s3_cache_rebuild_annotate.job_id
  returning r.* into job;
  if job.id is null then
    raise exception using
      errcode = 'P0002',
      message = pg_catalog.format('Rebuild %s does not exist', s3_cache_rebuild_annotate.job_id);
  end if;
  return pg_catalog.to_jsonb(job);
end;
$$;
revoke all on function public.s3_cache_rebuild_annotate(bigint, jsonb, integer) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_annotate(bigint, jsonb, integer) to service_role;

-- Appends one worker invocation's cost to the job's invocations ({cpu_ms, wall_ms, pages, keys,
-- clocks, at}) and says which clocks its budget read: Supabase's hosted edge runtime reports no
-- CPU time (`process.cpuUsage` is missing from its Node polyfill), so a worker budgets on wall
-- time and work done (pages, keys) and reads CPU time only where the runtime has it. `clocks` is
-- `{wall,work}` or `{cpu,wall,work}`, and `cpu_ms` is null exactly when 'cpu' is not among them,
-- so nobody mistakes "not measured" for "free". Without `clocks` (a psql call, an older worker)
-- the entry records what it is given and no clocks.
--   select s3_cache_rebuild_record_invocation(7, null, 9400, 12, 12000, array['wall','work']);
--   select s3_cache_rebuild_record_invocation(7, 812.5, 9400, 12, 12000);
create or replace function public.s3_cache_rebuild_record_invocation(
  job_id bigint,
  cpu_ms numeric,
  wall_ms numeric,
  pages integer,
  keys integer,
  clocks text[] default null
)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  given text[] := s3_cache_rebuild_record_invocation.clocks;
begin
  if given is not null and (
    not given <@ array['cpu', 'wall', 'work']
    or not given @> array['wall', 'work']
    or pg_catalog.array_position(given, null) is not null
  ) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot record an invocation with clocks %s: expected {wall,work} or {cpu,wall,work}',
        given::text
      );
  end if;
  if given is not null
    and (s3_cache_rebuild_record_invocation.cpu_ms is null) = ('cpu' = any (given)) then
    raise exception using
      errcode = '22023',
      message = 'Cannot record an invocation: cpu_ms must be given exactly when the cpu clock was read';
  end if;
  update public.s3_cache_rebuilds as r
  set invocations = r.invocations || pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
      'clocks', case when given is not null then pg_catalog.to_jsonb(
        array(select c from pg_catalog.unnest(given) as c group by c order by c)
      ) end
    )) || pg_catalog.jsonb_build_object(
      'cpu_ms', s3_cache_rebuild_record_invocation.cpu_ms,
      'wall_ms', s3_cache_rebuild_record_invocation.wall_ms,
      'pages', s3_cache_rebuild_record_invocation.pages,
      'keys', s3_cache_rebuild_record_invocation.keys,
      'at', pg_catalog.clock_timestamp()
    )
  )
  where r.id = s3_cache_rebuild_record_invocation.job_id;
  if not found then
    raise exception using
      errcode = 'P0002',
      message = pg_catalog.format(
        'Rebuild %s does not exist', s3_cache_rebuild_record_invocation.job_id
      );
  end if;
end;
$$;
revoke all on function public.s3_cache_rebuild_record_invocation(bigint, numeric, numeric, integer, integer, text[]) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_record_invocation(bigint, numeric, numeric, integer, integer, text[]) to service_role;

-- Ends a running job as failed with `error`; s3_image_cache is left exactly as it was and the
-- job's pages are dropped. Returns the job.
--   select s3_cache_rebuild_fail(7, 'S3 answered 403 AccessDenied');
create or replace function public.s3_cache_rebuild_fail(job_id bigint, error text)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := s3_image_cache_private.s3_cache_rebuild_lock_running(
    s3_cache_rebuild_fail.job_id, 'fail'
  );
begin
  delete from public.s3_cache_rebuild_pages as p where p.job_id = job.id;
  update public.s3_cache_rebuilds as r set
    status = 'failed',
    finished_at = pg_catalog.clock_timestamp(),
    error = s3_cache_rebuild_fail.error,
    lease_owner = null,
    lease_expires_at = null
  where r.id = job.id
  returning r.* into job;
  return pg_catalog.to_jsonb(job);
end;
$$;
revoke all on function public.s3_cache_rebuild_fail(bigint, text) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_fail(bigint, text) to service_role;

-- Cancels a running job; s3_image_cache is left exactly as it was and the job's pages are dropped.
-- Cancelling a job that is not running raises, naming its status. Returns the job.
--   select s3_cache_rebuild_cancel(7);
create or replace function public.s3_cache_rebuild_cancel(job_id bigint)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := s3_image_cache_private.s3_cache_rebuild_lock_running(
    s3_cache_rebuild_cancel.job_id, 'cancel'
  );
begin
  delete from public.s3_cache_rebuild_pages as p where p.job_id = job.id;
  update public.s3_cache_rebuilds as r set
    status = 'cancelled',
    finished_at = pg_catalog.clock_timestamp(),
    lease_owner = null,
    lease_expires_at = null
  where r.id = job.id
  returning r.* into job;
  return pg_catalog.to_jsonb(job);
end;
$$;
revoke all on function public.s3_cache_rebuild_cancel(bigint) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_cancel(bigint) to service_role;

-- Marks a running job to be applied even when it would remove more than half of the index: an
-- admin read a reconcile's report and confirmed it (`POST /reconcile/:id/apply {"force": true}`).
-- A job that is not running raises, naming its status. Returns the job.
--   select s3_cache_rebuild_force(7);
create or replace function public.s3_cache_rebuild_force(job_id bigint)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := s3_image_cache_private.s3_cache_rebuild_lock_running(
    s3_cache_rebuild_force.job_id, 'force'
  );
begin
  update public.s3_cache_rebuilds as r set force = true
  where r.id = job.id
  returning r.* into job;
  return pg_catalog.to_jsonb(job);
end;
$$;
revoke all on function public.s3_cache_rebuild_force(bigint) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_force(bigint) to service_role;

