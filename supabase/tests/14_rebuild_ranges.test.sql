-- A rebuild listed in key ranges: the ranges tile the key space (each key in exactly one range),
-- each range has its own lease and its own compare-and-set on its position, a split keeps the
-- tiling, the job's listing is complete only when every range is, two workers list two ranges at
-- once, and finish, cancel and the one-stream calls behave as for a job listed in one stream.
-- Pages are written as literals in the worker's listing format (listing_page.ts).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(28);

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
delete from s3_image_cache;

create temp table t14_job (name text primary key, id bigint) on commit drop;

-- The ranges of a job tile the key space after after_key: each starts where the one before ends,
-- and the last runs to the end of the bucket.
create function pg_temp.t14_tiled(job bigint, after_key text) returns boolean language sql as $$
  select bool_and(ok) and count(*) filter (where up_to is null) = 1
  from (
    select g.up_to,
      g.start_after = coalesce(lag(g.up_to) over (order by g.start_after collate "C"), after_key)
        and (g.up_to is null or g.start_after < g.up_to) as ok
    from s3_cache_rebuild_ranges as g where g.job_id = job
  ) as t
$$;
create function pg_temp.t14_line(key text) returns text language sql immutable as $$
  select key || E'\t1\t"e"\t1767225600000\n'
$$;

insert into t14_job select 'a', (s3_cache_rebuild_start('pgtap') -> 'job' ->> 'id')::bigint;
select s3_cache_rebuild_claim((select id from t14_job where name = 'a'), 'head', 60);

-- partition ------------------------------------------------------------------------------------
select throws_ok(
  format($$select s3_cache_rebuild_partition(%s, 'head', null, '', '5.jpg', array['3', '8'])$$,
    (select id from t14_job where name = 'a')),
  '22023', null, 'boundaries out of order are refused');
select throws_ok(
  format($$select s3_cache_rebuild_partition(%s, 'stranger', null, '', '5.jpg', array['6'])$$,
    (select id from t14_job where name = 'a')),
  '40001', null, 'only the holder of the job''s lease cuts its listing');
select is(
  s3_cache_rebuild_partition((select id from t14_job where name = 'a'), 'head', null,
    pg_temp.t14_line('1.jpg') || pg_temp.t14_line('2.jpg'), '2.jpg', array['5', 'a']) -> 'ranges',
  '{"total": 3, "done": 0}'::jsonb,
  'the first page is staged and the rest is cut into three ranges');
select ok(pg_temp.t14_tiled((select id from t14_job where name = 'a'), '2.jpg'),
  'the ranges cover the keys after the first page exactly once');
select throws_ok(
  format($$select s3_cache_rebuild_partition(%s, 'head', null, '', '2.jpg', array['5'])$$,
    (select id from t14_job where name = 'a')),
  '40001', null, 'a job is cut at most once');
select throws_ok(
  format($$select s3_cache_rebuild_stage_page(%s, 'head', null, 'x', '')$$,
    (select id from t14_job where name = 'a')),
  '40001',
  format('Cannot stage a page for rebuild %s: its listing is split into ranges (stage with s3_cache_rebuild_stage_range_page)',
    (select id from t14_job where name = 'a')),
  'a job listed in ranges is never staged as one stream');

-- two workers, two ranges ------------------------------------------------------------------------
select is(
  (select jsonb_path_query_array(
     s3_cache_rebuild_claim_ranges((select id from t14_job where name = 'a'), 'w1', 60, 1),
     '$.ranges[*].range')),
  '[1]'::jsonb, 'the first worker takes range 1');
select is(
  (select jsonb_path_query_array(
     s3_cache_rebuild_claim_ranges((select id from t14_job where name = 'a'), 'w2', 60, 1),
     '$.ranges[*].range')),
  '[2]'::jsonb, 'the second worker takes range 2, not the first worker''s');
select is(
  (s3_cache_rebuild_claim_ranges((select id from t14_job where name = 'a'), 'w2', 60, 1) ->> 'workers')::int,
  2, 'two workers hold live leases');
select throws_ok(
  format($$select s3_cache_rebuild_stage_range_page(%s, 1, 'w2', null, '3.jpg', false, %L)$$,
    (select id from t14_job where name = 'a'), pg_temp.t14_line('3.jpg')),
  '40001', null, 'a worker cannot stage a page of a range it does not hold');
select is(
  s3_cache_rebuild_stage_range_page((select id from t14_job where name = 'a'), 1, 'w1', null,
    '3.jpg', false, pg_temp.t14_line('3.jpg')) -> 'range' ->> 'last_key',
  '3.jpg', 'the first worker stages a page of range 1');
select is(
  s3_cache_rebuild_stage_range_page((select id from t14_job where name = 'a'), 2, 'w2', null,
    '6.jpg', false, pg_temp.t14_line('6.jpg')) -> 'range' ->> 'last_key',
  '6.jpg', 'the second worker stages a page of range 2 at the same time');
select throws_ok(
  format($$select s3_cache_rebuild_stage_range_page(%s, 1, 'w1', null, '3.jpg', false, %L)$$,
    (select id from t14_job where name = 'a'), pg_temp.t14_line('3.jpg')),
  '40001',
  format('Cannot stage a page for rebuild %s: the page follows its start but range 1 continues from key "3.jpg"',
    (select id from t14_job where name = 'a')),
  'a stale page of a range (its position moved on) is refused');
select throws_ok(
  format($$select s3_cache_rebuild_stage_range_page(%s, 1, 'w1', '3.jpg', '6.jpg', true, %L)$$,
    (select id from t14_job where name = 'a'), pg_temp.t14_line('6.jpg')),
  '40001', null, 'a page reaching past its range''s end is refused');
select is(
  (select array_agg(page order by page) from s3_cache_rebuild_pages
   where job_id = (select id from t14_job where name = 'a')),
  array[1, 2, 3], 'pages from several ranges take job-wide unique numbers');

-- split ----------------------------------------------------------------------------------------
select throws_ok(
  format($$select s3_cache_rebuild_split_range(%s, 2, 'w3', '5', 60)$$,
    (select id from t14_job where name = 'a')),
  '40001', null, 'a range is not split before its position');
select is(
  (s3_cache_rebuild_split_range((select id from t14_job where name = 'a'), 2, 'w3', '8', 60)
    -> 'range') - 'lease_owner',
  '{"range": 4, "start_after": "8", "up_to": "a", "last_key": null, "complete": false, "pages": 0, "listed": 0}'::jsonb,
  'a split hands the keys after the split key to a new range');
select ok(pg_temp.t14_tiled((select id from t14_job where name = 'a'), '2.jpg'),
  'after the split the ranges still cover every key exactly once');
select throws_ok(
  format($$select s3_cache_rebuild_stage_range_page(%s, 2, 'w2', '6.jpg', '9.jpg', false, %L)$$,
    (select id from t14_job where name = 'a'), pg_temp.t14_line('7.jpg') || pg_temp.t14_line('9.jpg')),
  '40001', null, 'the split range''s holder learns of its new end: its page crossing it is refused');

-- completion -----------------------------------------------------------------------------------
select s3_cache_rebuild_stage_range_page((select id from t14_job where name = 'a'), 1, 'w1',
  '3.jpg', '4.jpg', true, pg_temp.t14_line('4.jpg'));
select s3_cache_rebuild_stage_range_page((select id from t14_job where name = 'a'), 2, 'w2',
  '6.jpg', '7.jpg', true, pg_temp.t14_line('7.jpg'));
select s3_cache_rebuild_stage_range_page((select id from t14_job where name = 'a'), 4, 'w3',
  null, '9.jpg', true, pg_temp.t14_line('9.jpg'));
select is(
  (select listing_complete from s3_cache_rebuilds where id = (select id from t14_job where name = 'a')),
  false, 'the listing is not complete while one range is not');
select throws_ok(
  format($$select s3_cache_rebuild_finish(%s)$$, (select id from t14_job where name = 'a')),
  '55000', null, 'finish refuses a job with a range left');
select is(
  s3_cache_rebuild_stage_range_page((select id from t14_job where name = 'a'), 3,
    (s3_cache_rebuild_claim_ranges((select id from t14_job where name = 'a'), 'w4', 60, 1)
      -> 'ranges' -> 0 ->> 'lease_owner'),
    null, 'b.jpg', true, pg_temp.t14_line('b.jpg')) -> 'job' -> 'ranges',
  '{"total": 4, "done": 4}'::jsonb, 'the last range completes the count');
select is(
  (select listing_complete from s3_cache_rebuilds where id = (select id from t14_job where name = 'a')),
  true, 'the listing is complete once every range is');
select is(
  s3_cache_rebuild_finish((select id from t14_job where name = 'a')) ->> 'status',
  'succeeded', 'finish applies a job listed in ranges: its staged pages add up');
select is(
  (select array_agg(filename::text order by filename) from s3_image_cache),
  array['1.jpg', '2.jpg', '3.jpg', '4.jpg', '6.jpg', '7.jpg', '9.jpg', 'b.jpg'],
  'the index holds every key of every range once');

-- cancel and rights ----------------------------------------------------------------------------
insert into t14_job select 'b', (s3_cache_rebuild_start('pgtap') -> 'job' ->> 'id')::bigint;
select s3_cache_rebuild_claim((select id from t14_job where name = 'b'), 'head', 60);
-- Listed in one stream first (token t1), then cut at its second page.
select s3_cache_rebuild_stage_page((select id from t14_job where name = 'b'), 'head', null, 't1',
  pg_temp.t14_line('0.jpg'));
select s3_cache_rebuild_partition((select id from t14_job where name = 'b'), 'head', 't1',
  pg_temp.t14_line('1.jpg'), '1.jpg', array['5']);
select is(
  (select array_agg(page order by page) from s3_cache_rebuild_pages
   where job_id = (select id from t14_job where name = 'b')),
  array[1, 2], 'a job listed in one stream for a while is cut at a later page, which is staged');
select s3_cache_rebuild_cancel((select id from t14_job where name = 'b'));
select is(
  s3_cache_rebuild_claim_ranges((select id from t14_job where name = 'b'), 'w1', 60, 2),
  null, 'a cancelled job''s ranges cannot be claimed; the index is as it was');

select set_config('t14.job', (select id::text from t14_job where name = 'b'), true);
set local role authenticated;
select throws_ok(
  format($$select s3_cache_rebuild_claim_ranges(%s, 'w1', 60, 2)$$, current_setting('t14.job')),
  '42501', null, 'signed-in users cannot drive ranges');
reset role;

select * from finish();
rollback;
