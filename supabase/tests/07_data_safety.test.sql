-- Data safety of rebuilds and of the job rows: finish refuses a staged listing that does not add
-- up to what the job listed; a finish that would remove more than half of the index is held as
-- needs_confirmation (nothing changes) unless the job was started with force; a file removed
-- while a rebuild runs stays removed; only managers and admins read jobs; skipped samples never
-- show a direct upload's staging key.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(36);

-- pgTAP's functions must stay callable while a test runs as authenticated (as on hosted Supabase).
grant execute on all functions in schema extensions to anon, authenticated;

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
delete from s3_image_cache;

-- A job whose whole listing is `names` (as one page, in the worker's listing format), each with
-- the fixture's metadata (size 1, ETag "e", 2026-01-01 in epoch milliseconds), so a listed name
-- that is indexed already is kept unchanged. The names are plain, so none needs escaping.
create function pg_temp.t07_job(names text[], mode text default 'rebuild', force boolean default false)
returns bigint language plpgsql as $$
declare
  job_id bigint := (public.s3_cache_rebuild_start('t07', mode, force) -> 'job' ->> 'id')::bigint;
begin
  perform public.s3_cache_rebuild_claim(job_id, 'w', 60);
  perform public.s3_cache_rebuild_stage_page(job_id, 'w', null, null,
    (select coalesce(string_agg(n.name || E'\t1\t"e"\t1767225600000\n', '' order by n.ordinality), '')
     from unnest(names) with ordinality as n (name, ordinality)));
  return job_id;
end;
$$;
create function pg_temp.t07_seed(names text[]) returns void language sql as $$
  insert into public.s3_image_cache (filename, size_bytes, etag, last_modified)
  select n, 1, '"e"', '2026-01-01 00:00:00+00' from unnest(names) as n
$$;
create temp table t07_job (name text primary key, id bigint) on commit drop;
create temp table t07_result (name text primary key, job jsonb) on commit drop;

select pg_temp.t07_seed(array['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg']);
create temp table t07_before on commit drop as select * from s3_image_cache;

-- Staged keys must add up to the listed count ---------------------------------------------------
insert into t07_job values ('tampered', pg_temp.t07_job(array['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg']));
-- A page that lost keys after it was counted (written around stage_page).
update s3_cache_rebuild_pages set listing = E'a.jpg\t1\t"e"\t1767225600000\n'
where job_id = (select id from t07_job where name = 'tampered');
insert into t07_result select 'tampered', s3_cache_rebuild_finish(id) from t07_job where name = 'tampered';
select results_eq(
  $$select job ->> 'status', job ->> 'error' from t07_result where name = 'tampered'$$,
  format($$values ('failed', 'Cannot finish rebuild %s: its staged pages hold 1 keys (up to page 1) but it listed 4 keys in 1 pages; nothing was applied')$$,
    (select id from t07_job where name = 'tampered')),
  'finish fails a job whose staged pages do not hold the keys it listed, saying both numbers'
);
select results_eq('select * from s3_image_cache order by id', 'select * from t07_before order by id',
  'a refused finish leaves the index exactly as it was');
select is((select count(*)::int from s3_cache_rebuild_pages
  where job_id = (select id from t07_job where name = 'tampered')), 0,
  'the refused job''s pages are dropped');

-- The mass-removal guard ---------------------------------------------------------------------------
insert into t07_job values ('mass', pg_temp.t07_job(array['a.jpg', 'n.jpg']));
select is(
  (select s3_cache_rebuild_preview(id) -> 'to_remove' from t07_job where name = 'mass'), '3'::jsonb,
  'preview shows the removal of 3 of the 4 images');
insert into t07_result select 'mass', s3_cache_rebuild_finish(id) from t07_job where name = 'mass';
select is((select job ->> 'status' from t07_result where name = 'mass'), 'needs_confirmation',
  'a finish that would remove 3 of 4 images ends as needs_confirmation');
select is(
  (select (job -> 'summary' -> 'guard') - 'window_largest_at' from t07_result where name = 'mass'),
  '{"rule": "this_run", "index_count": 4, "index_after": 2, "would_insert": 1, "would_update": 0,
    "would_remove": 3, "removed_samples": ["b.jpg", "c.jpg", "d.jpg"], "window_hours": 24,
    "window_largest": 4}'::jsonb,
  'the held job carries the preview numbers, the rule that held it and the names it would remove');
select is(
  (select summary -> 'guard' from s3_cache_rebuilds where id = (select id from t07_job where name = 'mass')),
  (select job -> 'summary' -> 'guard' from t07_result where name = 'mass'),
  'the job row keeps summary.guard');
select results_eq(
  $$select (job ->> 'inserted')::int, (job ->> 'removed')::int, job ->> 'lease_owner',
      job ->> 'finished_at' is not null from t07_result where name = 'mass'$$,
  $$values (0, 0, null::text, true)$$,
  'the held job applied nothing, released its lease and ended');
select results_eq('select * from s3_image_cache order by id', 'select * from t07_before order by id',
  'a held finish changes nothing in the index');
select is((select count(*)::int from s3_cache_rebuild_pages
  where job_id = (select id from t07_job where name = 'mass')), 0, 'the held job''s pages are dropped');
select is(s3_cache_rebuild_start('t07-next') ->> 'started', 'true',
  'a held job no longer blocks a new one');
select s3_cache_rebuild_cancel((select id from s3_cache_rebuilds where status = 'running'));

insert into t07_result
  select 'empty', s3_cache_rebuild_finish(pg_temp.t07_job(array[]::text[]));
select results_eq(
  $$select job ->> 'status', job -> 'summary' -> 'guard' -> 'would_remove' from t07_result where name = 'empty'$$,
  $$values ('needs_confirmation', '4'::jsonb)$$,
  'an empty listing (say, a wrong bucket) would remove all of a non-empty index: held');
insert into t07_result
  select 'reconcile', s3_cache_rebuild_finish(pg_temp.t07_job(array['a.jpg'], 'reconcile'));
select is((select job ->> 'status' from t07_result where name = 'reconcile'), 'needs_confirmation',
  'a reconcile apply is held the same way');
select results_eq('select * from s3_image_cache order by id', 'select * from t07_before order by id',
  'neither held job changed the index');

insert into t07_result
  select 'half', s3_cache_rebuild_finish(pg_temp.t07_job(array['a.jpg', 'b.jpg']));
select results_eq(
  $$select job ->> 'status', (job ->> 'removed')::int from t07_result where name = 'half'$$,
  $$values ('succeeded', 2)$$,
  'removing exactly half of the index is applied');

-- force ---------------------------------------------------------------------------------------------
select pg_temp.t07_seed(array['c.jpg', 'd.jpg', 'e.jpg']);
insert into t07_job values ('forced', pg_temp.t07_job(array['a.jpg'], 'rebuild', true));
select is((select force from s3_cache_rebuilds where id = (select id from t07_job where name = 'forced')),
  true, 'a job started with force records it');
select is((s3_cache_rebuild_start('t07', 'rebuild') -> 'job' ->> 'force'), 'true',
  'the running job shows its force flag');
insert into t07_result select 'forced', s3_cache_rebuild_finish(id) from t07_job where name = 'forced';
select results_eq(
  $$select job ->> 'status', (job ->> 'removed')::int from t07_result where name = 'forced'$$,
  $$values ('succeeded', 4)$$,
  'a forced job applies a removal of 4 of 5 images');
select is((select array_agg(filename::text) from s3_image_cache), array['a.jpg'],
  'the forced finish left exactly the listed image');
select is((s3_cache_rebuild_start('t07') -> 'job' ->> 'force'), 'false', 'force defaults to false');
select s3_cache_rebuild_cancel((select id from s3_cache_rebuilds where status = 'running'));

-- An admin confirms a reviewed job: s3_cache_rebuild_force marks it, and its finish applies.
select pg_temp.t07_seed(array['f.jpg', 'g.jpg', 'h.jpg']);
insert into t07_job values ('confirmed', pg_temp.t07_job(array['a.jpg'], 'reconcile'));
select is((s3_cache_rebuild_force((select id from t07_job where name = 'confirmed')) ->> 'force'),
  'true', 's3_cache_rebuild_force marks a running job');
insert into t07_result select 'confirmed', s3_cache_rebuild_finish(id) from t07_job where name = 'confirmed';
select results_eq(
  $$select job ->> 'status', (job ->> 'removed')::int from t07_result where name = 'confirmed'$$,
  $$values ('succeeded', 3)$$,
  'the confirmed job applies a removal of 3 of 4 images');
select throws_ok(
  format('select s3_cache_rebuild_force(%s)', (select id from t07_job where name = 'confirmed')),
  '55000', null, 'a job that is not running cannot be forced');

-- Deletes stick -----------------------------------------------------------------------------------
delete from s3_image_cache;
select pg_temp.t07_seed(array['a.jpg', 'b.jpg', 'c.jpg', 'e.jpg']);
select is(remove_file_from_s3_cache('e.jpg'), 'SUCCESS', 'e.jpg is removed before the job starts');
insert into t07_job values ('sticky', pg_temp.t07_job(array['a.jpg', 'b.jpg', 'c.jpg', 'e.jpg', 'n.jpg']));
select is(
  (select count(*)::int from s3_image_cache_private.s3_cache_removals where filename = 'e.jpg'), 0,
  'starting a job forgets removals made before it');
select is(remove_file_from_s3_cache('b.jpg'), 'SUCCESS', 'b.jpg is removed while the job runs');
select is(add_file_to_s3_cache('u.jpg'), 'SUCCESS', 'u.jpg is uploaded while the job runs');
select is(
  (select action from s3_cache_rebuild_listing
   where job_id = (select id from t07_job where name = 'sticky') and filename = 'b.jpg'),
  'removed', 'the listing marks the name removed during the job');
select is(
  (select s3_cache_rebuild_preview(id) -> 'missing_from_index' from t07_job where name = 'sticky'),
  '["e.jpg", "n.jpg"]'::jsonb, 'preview would add the new name and the one removed before the job, not b.jpg');
insert into t07_result select 'sticky', s3_cache_rebuild_finish(id) from t07_job where name = 'sticky';
select is((select array_agg(filename::text order by filename) from s3_image_cache),
  array['a.jpg', 'c.jpg', 'e.jpg', 'n.jpg', 'u.jpg'],
  'after finish, the file removed during the job stays removed and the upload during it stays');

-- Privacy ----------------------------------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims to '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000007"}';
select is((select count(*)::int from s3_cache_rebuilds), 0,
  'a signed-in user without a role reads no rebuild job');
select is(s3_cache_rebuild_status(), null, 'and s3_cache_rebuild_status() shows them nothing');
set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000007", "user_metadata": {"role": "admin"}}';
select is((select count(*)::int from s3_cache_rebuilds), 0,
  'a role in user_metadata (which users edit themselves) reads nothing');
set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000007", "app_metadata": {"role": "manager"}}';
select ok((select count(*) from s3_cache_rebuilds) > 0, 'a manager reads the rebuild jobs');
reset role;

-- Skipped samples ------------------------------------------------------------------------------
select s3_cache_rebuild_annotate((select id from t07_job where name = 'sticky'),
  '{"skipped_samples": [{"key": "_incoming/3f2a/12/x.jpg", "problem": "path segments are not allowed"},
    {"key": "dir/x.jpg", "problem": "path segments are not allowed"}, "_incoming/4b1c/7/y.png"]}');
select s3_cache_rebuild_annotate((select id from t07_job where name = 'sticky'),
  '{"skipped_samples": [{"key": "_incoming/5c2d/9/z.jpg", "problem": "path segments are not allowed"}]}');
select is(
  (select summary -> 'skipped_samples' from s3_cache_rebuilds where id = (select id from t07_job where name = 'sticky')),
  '[{"key": "dir/x.jpg", "problem": "path segments are not allowed"}]'::jsonb,
  'skipped samples never show a staging key');
select is(
  (select summary -> 'skipped_staging_keys' from s3_cache_rebuilds where id = (select id from t07_job where name = 'sticky')),
  '3'::jsonb, 'staging keys are counted instead');

select * from finish();
rollback;
