-- The hosted runtime's part in SQL: invocations record which budget clocks they read (CPU time
-- may be unmeasured), and the scheduled resume call only fires for a job whose lease expired.
begin;
create extension if not exists pgtap with schema extensions;
-- Hosted Supabase has extensions on the search_path already; a bare cluster does not.
set local search_path = public, extensions;
select plan(18);

grant execute on all functions in schema extensions to anon, authenticated, service_role;

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
create temp table t09_job on commit drop as
  select (s3_cache_rebuild_start('t09') -> 'job' ->> 'id')::bigint as id;
grant select on t09_job to anon, authenticated, service_role;

-- record_invocation with clocks -----------------------------------------------------------------
select lives_ok(
  format($$select s3_cache_rebuild_record_invocation(%s, null, 950.5, 3, 3000, array['wall','work'])$$,
    (select id from t09_job)),
  'an invocation without CPU time is recorded');
select lives_ok(
  format($$select s3_cache_rebuild_record_invocation(%s, 120, 900, 2, 2000, array['work','cpu','wall'])$$,
    (select id from t09_job)),
  'an invocation with CPU time is recorded');
select results_eq(
  format($$select i -> 'cpu_ms', i -> 'clocks', i -> 'pages', i ? 'at'
    from s3_cache_rebuilds, jsonb_array_elements(invocations) with ordinality as e(i, n)
    where id = %s order by n$$, (select id from t09_job)),
  $$values ('null'::jsonb, '["wall", "work"]'::jsonb, '3'::jsonb, true),
           ('120'::jsonb, '["cpu", "wall", "work"]'::jsonb, '2'::jsonb, true)$$,
  'each entry says which clocks it read; cpu_ms is null where CPU was not measured');
select throws_ok(
  format($$select s3_cache_rebuild_record_invocation(%s, null, 1, 1, 1, array['wall'])$$,
    (select id from t09_job)),
  '22023', 'Cannot record an invocation with clocks {wall}: expected {wall,work} or {cpu,wall,work}',
  'a budget without work counting is refused');
select throws_ok(
  format($$select s3_cache_rebuild_record_invocation(%s, null, 1, 1, 1, array['wall','work','gpu'])$$,
    (select id from t09_job)),
  '22023',
  'Cannot record an invocation with clocks {wall,work,gpu}: expected {wall,work} or {cpu,wall,work}',
  'an unknown clock is refused');
select throws_ok(
  format($$select s3_cache_rebuild_record_invocation(%s, 5, 1, 1, 1, array['wall','work'])$$,
    (select id from t09_job)),
  '22023', 'Cannot record an invocation: cpu_ms must be given exactly when the cpu clock was read',
  'CPU time without the cpu clock is refused');
select throws_ok(
  $$select s3_cache_rebuild_record_invocation(-1, null, 1, 1, 1, array['wall','work'])$$,
  'P0002', 'Rebuild -1 does not exist', 'recording for a missing job raises');
select ok(
  not has_function_privilege('anon',
    'public.s3_cache_rebuild_record_invocation(bigint, numeric, numeric, integer, integer, text[])', 'execute')
  and not has_function_privilege('authenticated',
    'public.s3_cache_rebuild_record_invocation(bigint, numeric, numeric, integer, integer, text[])', 'execute')
  and has_function_privilege('service_role',
    'public.s3_cache_rebuild_record_invocation(bigint, numeric, numeric, integer, integer, text[])', 'execute'),
  'only service_role records invocations');

-- resume_stalled_jobs ---------------------------------------------------------------------------
update s3_cache_rebuilds set lease_owner = 'w', lease_expires_at = clock_timestamp() + interval '1 minute'
  where id = (select id from t09_job);
select is(s3_image_cache_private.s3_cache_resume_stalled_jobs(), null,
  'a job whose worker holds a live lease is left alone');
select is(
  (select lease_owner from s3_cache_rebuilds where id = (select id from t09_job)), 'w',
  'and its lease is untouched');
update s3_cache_rebuilds set lease_expires_at = clock_timestamp() - interval '1 second'
  where id = (select id from t09_job);
set local client_min_messages = error; -- the warning below is expected
select is(s3_image_cache_private.s3_cache_resume_stalled_jobs(), null,
  'a stalled job with no Vault secrets or pg_net makes no call (a warning says why)');
reset client_min_messages;
select is(
  (select status from s3_cache_rebuilds where id = (select id from t09_job)), 'running',
  'the stalled job stays running for the next attempt');
select ok(
  not has_function_privilege('anon', 's3_image_cache_private.s3_cache_resume_stalled_jobs()', 'execute')
  and not has_function_privilege('authenticated', 's3_image_cache_private.s3_cache_resume_stalled_jobs()', 'execute')
  and not has_function_privilege('service_role', 's3_image_cache_private.s3_cache_resume_stalled_jobs()', 'execute'),
  'only the owner (pg_cron runs as it) calls the resume function');
-- With Vault and pg_net (stand-ins here, rolled back: the real ones exist on hosted Supabase).
create schema vault;
create table vault.secrets_t09 (name text, decrypted_secret text);
create view vault.decrypted_secrets as select name, decrypted_secret from vault.secrets_t09;
create schema net;
create table net.calls_t09 (url text, body jsonb, headers jsonb, timeout_milliseconds int);
create function net.http_post(url text, body jsonb default '{}', params jsonb default '{}',
  headers jsonb default '{}', timeout_milliseconds int default 1000) returns bigint
  language sql as $$
    insert into net.calls_t09 values (url, body, headers, timeout_milliseconds) returning 42::bigint
  $$;
set local client_min_messages = error;
select is(s3_image_cache_private.s3_cache_resume_stalled_jobs(), null,
  'without the two Vault secrets no call is made');
reset client_min_messages;
insert into vault.secrets_t09 values
  ('s3_image_cache_project_url', 'https://abcdefghijklmnopqrst.supabase.co/'),
  ('s3_image_cache_secret_key', 'sb_secret_t09');
select is(s3_image_cache_private.s3_cache_resume_stalled_jobs(), 42::bigint,
  'a stalled job makes one pg_net call');
select results_eq(
  $$select url, headers ->> 'apikey', headers ->> 'authorization', body from net.calls_t09$$,
  $$values ('https://abcdefghijklmnopqrst.supabase.co/functions/v1/s3-image-service/rebuild/resume',
            'sb_secret_t09', 'Bearer sb_secret_t09', '{}'::jsonb)$$,
  'the call goes to the resume route with the secret key');
update s3_cache_rebuilds set status = 'cancelled', finished_at = now()
  where id = (select id from t09_job);
select is(s3_image_cache_private.s3_cache_resume_stalled_jobs(), null,
  'with no running job, nothing is called');
select is((select count(*)::int from net.calls_t09), 1, 'still one call in all');

select * from finish();
rollback;
