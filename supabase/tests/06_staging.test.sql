-- Staging's fast path: stage_page proves most names valid with one regular expression and sends
-- only the rest through s3_cache_filename_problem. It must never stage a name the rules refuse,
-- never skip one they accept, and deleting a job must still delete its staged rows.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(8);

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';

create temp table t06_names (name text) on commit drop;
insert into t06_names values
  ('14000.jpg'), ('14000.JPG'), ('a b.png'), ('_x-y.webp'), ('a.b.gif'), ('z.AVIF'), ('p.jpeg'),
  ('..jpg'), ('a..b.jpg'), ('.jpg'), ('x.jpg.txt'), ('x.svg'), ('dir/x.jpg'), ('dir\x.jpg'),
  (' x.jpg'), ('x.jpg '), (E'x\tb.jpg'), ('noext'), ('x.'), ('é.jpg'), ('x.jpG'),
  (repeat('a', 251) || '.jpg'), (repeat('a', 252) || '.jpg'), (U&'\00A0x.jpg'), ('x.pngx');

create temp table t06_job on commit drop as
  select (s3_cache_rebuild_start('pgtap') -> 'job' ->> 'id')::bigint as id;
select s3_cache_rebuild_claim((select id from t06_job), 'w', 60);
select s3_cache_rebuild_stage_page(
  (select id from t06_job), 'w', null, null,
  (select array_agg(name order by name) from t06_names),
  (select array_agg(1::bigint) from t06_names),
  (select array_agg('"e"'::text) from t06_names),
  (select array_agg(now()) from t06_names)
);

select results_eq(
  $$select filename from s3_cache_rebuild_staging
    where job_id = (select id from t06_job) order by filename$$,
  $$select name from t06_names where s3_cache_filename_problem(name) is null order by name$$,
  'stage_page stages exactly the names s3_cache_filename_problem accepts'
);
select is(
  (select skipped::int from s3_cache_rebuilds where id = (select id from t06_job)),
  (select count(*)::int from t06_names where s3_cache_filename_problem(name) is not null),
  'every refused name is counted as skipped'
);
select is(
  (select count(*)::int from s3_cache_rebuild_staging where job_id = (select id from t06_job)),
  (select count(*)::int from t06_names where s3_cache_filename_problem(name) is null),
  'nothing else was staged'
);

-- Annotations: top-level keys merge, skipped samples append up to the cap.
select s3_cache_rebuild_annotate((select id from t06_job), '{"apply": true, "budget": {"cpu_ms": 1}}');
select s3_cache_rebuild_annotate((select id from t06_job),
  '{"budget": {"cpu_ms": 2}, "skipped_samples": [{"key": "a"}, {"key": "b"}]}', 3);
select s3_cache_rebuild_annotate((select id from t06_job),
  '{"skipped_samples": [{"key": "c"}, {"key": "d"}]}', 3);
select is(
  (select summary from s3_cache_rebuilds where id = (select id from t06_job)),
  '{"apply": true, "budget": {"cpu_ms": 2}, "skipped_samples": [{"key": "a"}, {"key": "b"}, {"key": "c"}]}'::jsonb,
  'annotate merges keys and appends skipped samples up to the cap'
);
select throws_ok(
  format($$select s3_cache_rebuild_annotate(%s, '[1]')$$, (select id from t06_job)),
  '22023',
  format('Cannot annotate rebuild %s: the patch must be a JSON object', (select id from t06_job)),
  'annotate refuses a patch that is not an object'
);
select throws_ok(
  $$select s3_cache_rebuild_annotate(-1, '{}')$$, 'P0002', 'Rebuild -1 does not exist',
  'annotate names a job that does not exist'
);
select is(
  (select count(*)::int from s3_cache_rebuild_staging where job_id = (select id from t06_job)) > 0,
  true,
  'annotating leaves the staged listing alone'
);

update s3_cache_rebuilds set status = 'cancelled' where id = (select id from t06_job);
delete from s3_cache_rebuilds where id = (select id from t06_job);
select is(
  (select count(*)::int from s3_cache_rebuild_staging where job_id = (select id from t06_job)),
  0,
  'deleting a job deletes its staged rows'
);

select * from finish();
rollback;
