-- Who may do what. anon and authenticated read s3_image_cache (and call lookup_s3_cache);
-- authenticated also reads rebuild progress. Neither writes any table nor calls any write
-- function. service_role does everything.
begin;
create extension if not exists pgtap with schema extensions;
-- Hosted Supabase has extensions on the search_path already; a bare cluster does not.
set local search_path = public, extensions;
select plan(79);

-- pgTAP's own functions must stay callable while a test runs as anon or authenticated (hosted
-- Supabase grants this already).
grant execute on all functions in schema extensions to anon, authenticated, service_role;

-- Rights are per function, never by default privileges --------------------------------------
select is_empty(
  $$select d.defaclobjtype from pg_default_acl as d where d.defaclnamespace = 0$$,
  'the migrations leave no project-wide default privileges behind'
);
create function public.t04_host_project_function() returns int language sql as 'select 1';
select ok(
  has_function_privilege('anon', 'public.t04_host_project_function()', 'execute')
    and has_function_privilege('authenticated', 'public.t04_host_project_function()', 'execute'),
  'a function the host project creates later keeps Supabase''s default grants'
);
drop function public.t04_host_project_function();
select is(
  (select array_agg(p.oid::regprocedure::text order by p.proname) from pg_proc as p
   where p.pronamespace in ('public'::regnamespace, 's3_image_cache_private'::regnamespace)
     and (p.proacl is null
       or exists (select 1 from aclexplode(p.proacl) as a where a.grantee = 0))),
  null, 'no function of ours is executable by PUBLIC: each revokes it right where it is created'
);
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc as p
   where p.pronamespace in ('public'::regnamespace, 's3_image_cache_private'::regnamespace)
     and has_function_privilege('anon', p.oid, 'execute')),
  array['has_app_role', 'lookup_s3_cache', 'storefront_images'],
  'anon may execute lookup_s3_cache and storefront_images (and has_app_role, for policies) and no other function of ours');
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc as p
   where p.pronamespace in ('public'::regnamespace, 's3_image_cache_private'::regnamespace)
     and has_function_privilege('authenticated', p.oid, 'execute')),
  array['has_app_role', 'lookup_s3_cache', 's3_cache_rebuild_status', 'storefront_images'],
  'authenticated may execute lookup_s3_cache, storefront_images and s3_cache_rebuild_status (and has_app_role, for policies), no other function of ours');
select ok(
  not has_schema_privilege('anon', 's3_image_cache_private', 'usage')
    and not has_schema_privilege('authenticated', 's3_image_cache_private', 'usage')
    and has_schema_privilege('service_role', 's3_image_cache_private', 'usage'),
  'only service_role may use the private schema'
);

insert into s3_image_cache (filename, size_bytes) values ('t04-a.jpg', 1), ('t04-b.jpg', 2);
update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
-- With force: its listing holds only t04 names, and on a database holding other images the
-- mass-removal guard would otherwise hold its finish (07_data_safety.test.sql tests the guard).
insert into s3_cache_rebuilds (mode, status, started_by, force) values ('rebuild', 'running', 't04', true);

-- Every call that writes (or reads rebuild internals), once per function and signature.
create temp table t04_write_calls (call text) on commit drop;
insert into t04_write_calls (call) values
  ($$select add_file_to_s3_cache('t04-x.jpg')$$),
  ($$select add_files_to_s3_cache(array['t04-x.jpg'])$$),
  ($$select remove_file_from_s3_cache('t04-a.jpg')$$),
  ($$select search_s3_cache('t04')$$),
  ($$select s3_cache_stats()$$),
  ($$select s3_cache_rebuild_start('t04')$$),
  ($$select s3_cache_rebuild_claim(1, 'w')$$),
  ($$select s3_cache_rebuild_record_invocation(1, 1, 1, 1, 1)$$),
  ($$select s3_cache_rebuild_annotate(1, '{}')$$),
  ($$select s3_cache_rebuild_preview(1)$$),
  ($$select s3_cache_rebuild_finish(1)$$),
  ($$select s3_cache_rebuild_fail(1, 'x')$$),
  ($$select s3_cache_rebuild_cancel(1)$$),
  ($$select s3_cache_rebuild_force(1)$$),
  ($$select s3_cache_rebuild_stage_page(1, 'w', null, null, '')$$);
grant select on t04_write_calls to anon, authenticated;

-- anon ----------------------------------------------------------------------------------------
set local role anon;
set local request.jwt.claims to '{"role": "anon"}';

select is((select count(*)::int from s3_image_cache where filename like 't04-%'), 2,
  'anon reads s3_image_cache');
select is((select count(*)::int from lookup_s3_cache(array['t04-a.jpg', 't04-z.jpg'])), 1,
  'anon calls lookup_s3_cache');
select throws_ok($$insert into s3_image_cache (filename) values ('t04-c.jpg')$$, '42501',
  'permission denied for table s3_image_cache', 'anon cannot insert into s3_image_cache');
select throws_ok($$update s3_image_cache set size_bytes = 0$$, '42501',
  'permission denied for table s3_image_cache', 'anon cannot update s3_image_cache');
select throws_ok($$delete from s3_image_cache$$, '42501',
  'permission denied for table s3_image_cache', 'anon cannot delete from s3_image_cache');
select throws_ok($$truncate s3_image_cache$$, '42501',
  'permission denied for table s3_image_cache', 'anon cannot truncate s3_image_cache');
select throws_ok($$select * from s3_cache_rebuilds$$, '42501',
  'permission denied for table s3_cache_rebuilds', 'anon cannot read rebuild jobs');
select throws_ok($$select * from s3_cache_rebuild_pages$$, '42501',
  'permission denied for table s3_cache_rebuild_pages', 'anon cannot read the staged pages');
select throws_ok($$select * from s3_cache_rebuild_listing$$, '42501',
  'permission denied for view s3_cache_rebuild_listing', 'anon cannot read the staged listing');
select throws_ok($$select s3_cache_rebuild_status()$$, '42501',
  'permission denied for function s3_cache_rebuild_status', 'anon cannot read rebuild status');
select throws_ok(w.call, '42501',
  format('permission denied for function %s', substring(w.call from 'select ([a-z0-9_]+)\(')),
  format('anon cannot call %s', substring(w.call from 'select ([a-z0-9_]+)\(')))
from t04_write_calls as w;
select throws_ok($$select s3_cache_filename_problem('a.jpg')$$, '42501',
  'permission denied for function s3_cache_filename_problem',
  'anon cannot call the internal helpers');

-- authenticated -------------------------------------------------------------------------------
reset role;
set local role authenticated;
set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000001", "app_metadata": {"role": "admin"}}';

select is((select count(*)::int from s3_image_cache where filename like 't04-%'), 2,
  'authenticated reads s3_image_cache');
select is((select count(*)::int from lookup_s3_cache(array['t04-a.jpg', 't04-b.jpg'])), 2,
  'authenticated calls lookup_s3_cache');
select is((select count(*)::int from s3_cache_rebuilds where started_by = 't04'), 1,
  'authenticated reads rebuild progress');
select is(s3_cache_rebuild_status() ->> 'started_by', 't04',
  'authenticated calls s3_cache_rebuild_status');
select throws_ok($$insert into s3_image_cache (filename) values ('t04-c.jpg')$$, '42501',
  'permission denied for table s3_image_cache', 'authenticated cannot insert into s3_image_cache');
select throws_ok($$update s3_image_cache set size_bytes = 0$$, '42501',
  'permission denied for table s3_image_cache', 'authenticated cannot update s3_image_cache');
select throws_ok($$delete from s3_image_cache$$, '42501',
  'permission denied for table s3_image_cache', 'authenticated cannot delete from s3_image_cache');
select throws_ok($$truncate s3_image_cache$$, '42501',
  'permission denied for table s3_image_cache', 'authenticated cannot truncate s3_image_cache');
select throws_ok($$update s3_cache_rebuilds set status = 'failed'$$, '42501',
  'permission denied for table s3_cache_rebuilds', 'authenticated cannot change rebuild jobs');
select throws_ok($$insert into s3_cache_rebuilds (started_by) values ('x')$$, '42501',
  'permission denied for table s3_cache_rebuilds', 'authenticated cannot create rebuild jobs');
select throws_ok($$select * from s3_cache_rebuild_pages$$, '42501',
  'permission denied for table s3_cache_rebuild_pages', 'authenticated cannot read the staged pages');
select throws_ok($$select * from s3_cache_rebuild_listing$$, '42501',
  'permission denied for view s3_cache_rebuild_listing', 'authenticated cannot read the staged listing');
select throws_ok(w.call, '42501',
  format('permission denied for function %s', substring(w.call from 'select ([a-z0-9_]+)\(')),
  format('authenticated cannot call %s', substring(w.call from 'select ([a-z0-9_]+)\(')))
from t04_write_calls as w;

-- service_role --------------------------------------------------------------------------------
reset role;
set local role service_role;
set local request.jwt.claims to '{"role": "service_role"}';

select is(add_file_to_s3_cache('t04-c.jpg'), 'SUCCESS', 'service_role adds a file');
select is(add_files_to_s3_cache(array['t04-d.jpg', 't04-e.jpg']), 2, 'service_role adds files');
select is(remove_file_from_s3_cache('t04-e.jpg'), 'SUCCESS', 'service_role removes a file');
select is((select count(*)::int from search_s3_cache('t04-')), 4, 'service_role searches');
select is((select count(*)::int from lookup_s3_cache(array['t04-c.jpg'])), 1,
  'service_role looks up');
select ok(s3_cache_stats() ? 'count', 'service_role reads stats');
select lives_ok($$insert into s3_image_cache (filename) values ('t04-f.jpg')$$,
  'service_role inserts directly');
select lives_ok($$update s3_image_cache set size_bytes = 3 where filename = 't04-f.jpg'$$,
  'service_role updates directly');
select lives_ok($$delete from s3_image_cache where filename = 't04-f.jpg'$$,
  'service_role deletes directly');
select is(s3_cache_rebuild_start('t04-service') ->> 'started', 'false',
  'service_role calls s3_cache_rebuild_start (a job is running)');
select isnt(
  s3_cache_rebuild_claim((select id from s3_cache_rebuilds where status = 'running'), 'w1'),
  null, 'service_role claims the running job');
select is(
  s3_cache_rebuild_stage_page((select id from s3_cache_rebuilds where status = 'running'), 'w1',
    null, 'p2', E't04-c.jpg\t1\t"c"\t1795442400000\n') ->> 'pages',
  '1', 'service_role stages a page');
select is(
  s3_cache_rebuild_stage_page((select id from s3_cache_rebuilds where status = 'running'), 'w1',
    'p2', null, E't04-d.jpg\t1\t"d"\t1795442400000\n') ->> 'pages',
  '2', 'service_role stages the last page');
select lives_ok(
  $$select s3_cache_rebuild_record_invocation(
    (select id from s3_cache_rebuilds where status = 'running'), 1.5, 2, 1, 1)$$,
  'service_role records an invocation');
select is(
  s3_cache_rebuild_preview((select id from s3_cache_rebuilds where status = 'running')) ->> 'to_insert',
  '0', 'service_role previews');
select is(
  (select count(*)::int from s3_cache_rebuild_pages
   where job_id = (select id from s3_cache_rebuilds where status = 'running')),
  2, 'service_role reads the staged pages');
select is(
  (select array_agg(filename order by filename) from s3_cache_rebuild_listing
   where job_id = (select id from s3_cache_rebuilds where status = 'running')),
  array['t04-c.jpg', 't04-d.jpg'], 'service_role reads a job''s staged listing');
select is(
  s3_cache_rebuild_finish((select id from s3_cache_rebuilds where status = 'running')) ->> 'status',
  'succeeded', 'service_role finishes a job');
select is(
  s3_cache_rebuild_fail((s3_cache_rebuild_start('t04-fail') -> 'job' ->> 'id')::bigint, 'boom')
    ->> 'status', 'failed', 'service_role fails a job');
select is(
  s3_cache_rebuild_cancel((s3_cache_rebuild_start('t04-cancel') -> 'job' ->> 'id')::bigint)
    ->> 'status', 'cancelled', 'service_role cancels a job');

reset role;
select * from finish();
rollback;
