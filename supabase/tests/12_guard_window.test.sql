-- The mass-removal guard at its boundaries and across runs: one finish may remove at most half of
-- the index (odd sizes: 78 of 157 applies, 79 of 157 is held; 1 of 3 applies, 2 of 3 is held), and
-- removals stepped a half at a time are held once the index would fall below half of its largest
-- size in the last 24 hours (158 → 79 applies, → 40 is held), until a forced finish resets the
-- window or the window passes.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(23);

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';

-- A fresh index of n images (g001.jpg …) and no job history, so each case starts alone.
create function pg_temp.t12_reset(n integer) returns void language sql as $$
  delete from public.s3_cache_rebuilds where status <> 'running';
  delete from public.s3_image_cache;
  insert into public.s3_image_cache (filename, size_bytes, etag, last_modified)
  select pg_catalog.format('g%s.jpg', pg_catalog.lpad(g::text, 3, '0')), 1, '"e"',
    '2026-01-01 00:00:00+00'
  from pg_catalog.generate_series(1, n) as g;
$$;
-- Finishes a job whose listing is the index minus `remove` of its images (the last in byte order).
create function pg_temp.t12_finish(remove integer, force boolean default false) returns jsonb
language plpgsql as $$
declare
  job_id bigint := (public.s3_cache_rebuild_start('t12', 'rebuild', force) -> 'job' ->> 'id')::bigint;
begin
  perform public.s3_cache_rebuild_claim(job_id, 'w', 60);
  perform public.s3_cache_rebuild_stage_page(job_id, 'w', null, null,
    (select coalesce(string_agg(k.filename || E'\t1\t"e"\t1767225600000\n', '' order by k.filename), '')
     from (select c.filename::text as filename from public.s3_image_cache as c
           order by c.filename collate "C"
           limit greatest((select count(*) from public.s3_image_cache) - remove, 0)) as k));
  return public.s3_cache_rebuild_finish(job_id);
end;
$$;

-- One finish at odd sizes ---------------------------------------------------------------------------
select pg_temp.t12_reset(157);
select is(pg_temp.t12_finish(78) ->> 'status', 'succeeded', '78 of 157 images removed at once: applied');
select pg_temp.t12_reset(157);
select results_eq(
  $$select j ->> 'status', j -> 'summary' -> 'guard' ->> 'rule', (j -> 'summary' -> 'guard' ->> 'would_remove')::int
    from (select pg_temp.t12_finish(79) as j) as x$$,
  $$values ('needs_confirmation', 'this_run', 79)$$,
  '79 of 157 images removed at once: held by the one-run rule');
select is((select count(*)::int from s3_image_cache), 157, 'the held finish removed nothing');
select pg_temp.t12_reset(3);
select is(pg_temp.t12_finish(1) ->> 'status', 'succeeded', '1 of 3 images removed at once: applied');
select pg_temp.t12_reset(3);
select is(pg_temp.t12_finish(2) ->> 'status', 'needs_confirmation', '2 of 3 images removed at once: held');

-- Stepwise removals ----------------------------------------------------------------------------------
select pg_temp.t12_reset(158);
select is(pg_temp.t12_finish(79) ->> 'status', 'succeeded', '158 → 79 (exactly half): applied');
select results_eq(
  $$select (summary ->> 'index_before')::int, (summary ->> 'index_after')::int from s3_cache_rebuilds
    where status = 'succeeded'$$,
  $$values (158, 79)$$,
  'an applied finish records the sizes before and after');
create temp table t12_step on commit drop as select pg_temp.t12_finish(39) as job;
select is((select job ->> 'status' from t12_step), 'needs_confirmation',
  '79 → 40 after 158 → 79 (118 of 158 within a day): held');
select results_eq(
  $$select g ->> 'rule', (g ->> 'index_count')::int, (g ->> 'index_after')::int,
      (g ->> 'would_remove')::int, (g ->> 'window_largest')::int, (g ->> 'window_hours')::int,
      (g ->> 'window_largest_at')::timestamptz = (select finished_at from s3_cache_rebuilds where status = 'succeeded')
    from (select job -> 'summary' -> 'guard' as g from t12_step) as x$$,
  $$values ('window', 79, 40, 39, 158, 24, true)$$,
  'summary.guard names the window rule, the largest size of the window and when it was recorded');
select is((select job ->> 'error' from t12_step),
  format('Not applied: it would leave 40 images, fewer than half of the 158 the index held at %s (its largest in the last 24 hours); start it again with force to apply',
    (select to_char(finished_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') from s3_cache_rebuilds where status = 'succeeded')),
  'the held job''s error says which rule held it, with its numbers');
select is((select count(*)::int from s3_image_cache), 79, 'the held step removed nothing');
select is(pg_temp.t12_finish(38) ->> 'status', 'needs_confirmation',
  '79 → 41 is held too: any step below half of 158');
select is(pg_temp.t12_finish(0) ->> 'status', 'succeeded', 'a finish that removes nothing applies');
select is(pg_temp.t12_finish(39, true) ->> 'status', 'succeeded', 'a forced finish applies 79 → 40');
select is(pg_temp.t12_finish(20) ->> 'status', 'succeeded',
  'after a forced finish the window starts again: 40 → 20 (half) applies');
select is(pg_temp.t12_finish(1) ->> 'status', 'needs_confirmation', '… and 20 → 19 of 40 is held');

-- The window's boundary at an odd size ----------------------------------------------------------------
select pg_temp.t12_reset(157);
select is(pg_temp.t12_finish(78) ->> 'status', 'succeeded', '157 → 79: applied');
select is(pg_temp.t12_finish(0) ->> 'status', 'succeeded', '79 → 79: applied');
select results_eq(
  $$select j ->> 'status', j -> 'summary' -> 'guard' ->> 'rule' from (select pg_temp.t12_finish(1) as j) as x$$,
  $$values ('needs_confirmation', 'window')$$,
  '79 → 78 after 157 (78 * 2 < 157): held by the window rule');

-- The window passes ---------------------------------------------------------------------------------
update s3_cache_rebuilds set finished_at = finished_at - interval '25 hours' where status <> 'running';
select is(pg_temp.t12_finish(1) ->> 'status', 'succeeded',
  'once the larger sizes are more than 24 hours old, 79 → 78 applies');

-- Rows deleted by hand are not a finish's doing -----------------------------------------------------
select pg_temp.t12_reset(10);
select is(pg_temp.t12_finish(5) ->> 'status', 'succeeded', '10 → 5: applied');
delete from s3_image_cache where filename > 'g002.jpg';
select is(pg_temp.t12_finish(0) ->> 'status', 'succeeded',
  'with 2 of 10 left by hand, a finish that removes nothing applies');
select is(pg_temp.t12_finish(1) ->> 'status', 'needs_confirmation',
  '… and one that removes 1 more is held (the window''s largest is 10)');

select * from finish();
rollback;
