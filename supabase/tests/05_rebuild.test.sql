-- Rebuild jobs: one running job at a time, leases, compare-and-set page staging (pages written
-- here as literals in the worker's listing format), preview, and a finish that deletes vanished
-- rows, keeps rows written during the job, leaves unchanged rows alone and counts what it did, the names it skipped included. Failed
-- or cancelled jobs leave the cache exactly as it was.
begin;
create extension if not exists pgtap with schema extensions;
-- Hosted Supabase has extensions on the search_path already; a bare cluster does not.
set local search_path = public, extensions;
select plan(75);

-- Start from a quiet database: no running job, and only our fixture rows in the index.
update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
delete from s3_image_cache;

create temp table t05_job (name text primary key, id bigint) on commit drop;

-- start ---------------------------------------------------------------------------------------
create temp table t05_started on commit drop as select s3_cache_rebuild_start('alice') as r;
insert into t05_job select 'first', (r -> 'job' ->> 'id')::bigint from t05_started;
select is((select r ->> 'started' from t05_started), 'true', 'the first start starts a job');
select is((select r -> 'job' ->> 'status' from t05_started), 'running', 'the new job is running');
select is((select r -> 'job' ->> 'mode' from t05_started), 'rebuild', 'mode defaults to rebuild');
select is((select r -> 'job' ->> 'started_by' from t05_started), 'alice', 'the job records who');
select is(
  (select count(*)::int from s3_cache_rebuilds where status = 'running'), 1, 'one job runs');

create temp table t05_second on commit drop as select s3_cache_rebuild_start('bob', 'reconcile') as r;
select is((select r ->> 'started' from t05_second), 'false', 'a second start does not start');
select is((select (r -> 'job' ->> 'id')::bigint from t05_second),
  (select id from t05_job where name = 'first'), 'a second start returns the running job');
select is((select r ->> 'message' from t05_second),
  (select format('Rebuild %s is already running (started by alice at %s)', id, started_at)
   from s3_cache_rebuilds where id = (select id from t05_job where name = 'first')),
  'a second start names the running job, who started it and when');
select throws_ok(
  $$insert into s3_cache_rebuilds (status, started_by) values ('running', 'mallory')$$, '23505',
  null, 'the database itself refuses a second running job');
select throws_ok($$select s3_cache_rebuild_start('alice', 'wipe')$$, '22023',
  'Cannot start a rebuild: mode must be "rebuild" or "reconcile", got "wipe"',
  'an unknown mode is refused');
select throws_ok($$select s3_cache_rebuild_start('  ')$$, '22023',
  'Cannot start a rebuild: started_by is empty', 'an empty started_by is refused');

-- claim ---------------------------------------------------------------------------------------
select is(
  s3_cache_rebuild_claim((select id from t05_job where name = 'first'), 'w1', 30) ->> 'lease_owner',
  'w1', 'a free lease is taken');
select is(s3_cache_rebuild_claim((select id from t05_job where name = 'first'), 'w2'), null,
  'a live lease of another worker is not taken');
select is(
  s3_cache_rebuild_claim((select id from t05_job where name = 'first'), 'w1', 30) ->> 'lease_owner',
  'w1', 'the holder renews its lease');
update s3_cache_rebuilds set lease_expires_at = clock_timestamp() - interval '1 second'
where id = (select id from t05_job where name = 'first');
select is(
  s3_cache_rebuild_claim((select id from t05_job where name = 'first'), 'w2') ->> 'lease_owner',
  'w2', 'an expired lease is taken over');
select is(
  s3_cache_rebuild_claim((select id from t05_job where name = 'first'), 'w1', 60) ->> 'lease_owner',
  null, 'the previous holder cannot take it back while the new lease lives');
select throws_ok(
  format('select s3_cache_rebuild_claim(%s, %L, 0)', (select id from t05_job where name = 'first'), 'w2'),
  '22023',
  format('Cannot claim rebuild %s: lease_seconds must be between 1 and 3600, got 0',
    (select id from t05_job where name = 'first')),
  'a zero lease is refused');
select throws_ok(
  format('select s3_cache_rebuild_claim(%s, %L)', (select id from t05_job where name = 'first'), ''),
  '22023',
  format('Cannot claim rebuild %s: the worker name is empty', (select id from t05_job where name = 'first')),
  'an empty worker name is refused');

-- stage_page: compare-and-set on the continuation token -------------------------------------
insert into s3_image_cache (filename, size_bytes, etag, last_modified, width, height) values
  ('same.jpg', 10, '"same"', '2026-01-01 00:00:00+00', 100, 100),
  ('changed.jpg', 20, '"old"', '2026-01-01 00:00:00+00', 200, 200),
  ('touched.png', 30, '"t"', '2026-01-01 00:00:00+00', 300, 300),
  ('vanished.jpg', 40, '"v"', '2026-01-01 00:00:00+00', null, null),
  ('kept-during.jpg', 50, '"k"', '2026-01-01 00:00:00+00', null, null);
create temp table t05_before_job on commit drop as select * from s3_image_cache;

-- The running job started before these rows were written; restart so the fixture predates it.
select is(
  s3_cache_rebuild_cancel((select id from t05_job where name = 'first')) ->> 'status', 'cancelled',
  'the first job is cancelled');
insert into t05_job select 'main', (s3_cache_rebuild_start('alice') -> 'job' ->> 'id')::bigint;
select isnt(s3_cache_rebuild_claim((select id from t05_job where name = 'main'), 'w1'), null,
  'w1 claims the main job');

select throws_ok(
  format($$select s3_cache_rebuild_stage_page(%s, 'w2', null, 'p2',
    E'x.jpg\t1\t"x"\t1767225600000\n')$$, (select id from t05_job where name = 'main')),
  '40001',
  format('Cannot stage a page for rebuild %s: worker "w2" does not hold its lease (held by "w1")',
    (select id from t05_job where name = 'main')),
  'a worker without the lease cannot stage');

create temp table t05_page1 on commit drop as select s3_cache_rebuild_stage_page(
  (select id from t05_job where name = 'main'), 'w1', null, 'p2',
  -- Dates in epoch milliseconds: 2026-01-01 and 2026-02-01 (UTC).
  E'same.jpg\t10\t"same"\t1767225600000\n'
  || E'changed.jpg\t21\t"new"\t1769904000000\n'
  || E'bad/name.jpg\t1\t"b"\t1769904000000\n'
  || E'notes.txt\t1\t"n"\t1769904000000\n'
  || E'new.webp\t60\t"w"\t1769904000000\n'
  || E'new.webp\t60\t"w"\t1769904000000\n') as job;
select results_eq(
  $$select job ->> 'continuation_token', job ->> 'pages', job ->> 'listed',
      job ->> 'listing_complete' from t05_page1$$,
  $$values ('p2', '1', '6', 'false')$$,
  'the first page advances the token and counts every listed name'
);
select results_eq(
  format($$select filename, size_bytes, action from s3_cache_rebuild_listing where job_id = %s
    order by filename collate "C", action$$, (select id from t05_job where name = 'main')),
  $$values ('bad/name.jpg'::text, 1::bigint, 'skip'::text), ('changed.jpg', 21, 'update'),
    ('new.webp', 60, 'insert'), ('new.webp', 60, 'insert'), ('notes.txt', 1, 'skip'),
    ('same.jpg', 10, 'keep')$$,
  'the listing reads the page back: new valid names insert (a repeat is folded by finish), a changed name updates, an unchanged one is kept, refused names are skipped'
);
select throws_ok(
  format($$select s3_cache_rebuild_stage_page(%s, 'w1', 'p2', 'p3',
    E'x.jpg\t1\t"x"\t1767225600000')$$, (select id from t05_job where name = 'main')),
  '22023',
  format('Cannot stage a page for rebuild %s: every line must hold 4 tab-separated fields and end with a newline',
    (select id from t05_job where name = 'main')),
  'a listing whose last line has no newline is refused');
select throws_ok(
  format($$select s3_cache_rebuild_stage_page(%s, 'w1', 'p2', 'p3',
    E'x.jpg\t1\t"x"\t1767225600000\ny.jpg\t1\t"y"\n')$$,
    (select id from t05_job where name = 'main')),
  '22023',
  format('Cannot stage a page for rebuild %s: every line must hold 4 tab-separated fields and end with a newline',
    (select id from t05_job where name = 'main')),
  'a listing with a line of three fields is refused');
select throws_ok(
  format($$select s3_cache_rebuild_stage_page(%s, 'w1', 'p2', 'p3',
    E'x.jpg\t1\t"x"\t1767225600000\textra\ny.jpg\t1\n')$$,
    (select id from t05_job where name = 'main')),
  '22023',
  format('Cannot stage a page for rebuild %s: every line must hold 4 tab-separated fields and end with a newline',
    (select id from t05_job where name = 'main')),
  'a line with five fields is refused even when the tab total would fit another short line');
select throws_ok(
  format($$select s3_cache_rebuild_stage_page(%s, 'w1', null, 'p2',
    E'same.jpg\t10\t"same"\t1767225600000\n')$$, (select id from t05_job where name = 'main')),
  '40001',
  format('Cannot stage a page for rebuild %s: the page follows the start but the job continues from token "p2"',
    (select id from t05_job where name = 'main')),
  'a retried page is refused (compare-and-set)');
select throws_ok(
  format($$select s3_cache_rebuild_stage_page(%s, 'w1', 'p7', 'p8',
    E'same.jpg\t10\t"same"\t1767225600000\n')$$, (select id from t05_job where name = 'main')),
  '40001',
  format('Cannot stage a page for rebuild %s: the page follows token "p7" but the job continues from token "p2"',
    (select id from t05_job where name = 'main')),
  'an out-of-order page is refused');
select results_eq(
  format($$select r.pages, r.listed, r.continuation_token,
      (select count(*)::int from s3_cache_rebuild_pages as p where p.job_id = r.id)
    from s3_cache_rebuilds as r where r.id = %s$$, (select id from t05_job where name = 'main')),
  $$values (1, 6::bigint, 'p2'::text, 1)$$,
  'refused pages are neither counted nor stored and leave the token where it was');
select throws_ok(
  format('select s3_cache_rebuild_preview(%s)', (select id from t05_job where name = 'main')), '55000',
  format('Cannot preview rebuild %s: its listing is not complete', (select id from t05_job where name = 'main')),
  'preview needs a complete listing');
select throws_ok(
  format('select s3_cache_rebuild_finish(%s)', (select id from t05_job where name = 'main')), '55000',
  format('Cannot finish rebuild %s: its listing is not complete', (select id from t05_job where name = 'main')),
  'finish needs a complete listing');

-- Written while the job runs: an upload of a new file, and a re-upload of a listed one.
select is(add_file_to_s3_cache('uploaded-during.jpg', size_bytes => 70), 'SUCCESS',
  'a file is uploaded during the job');
select is(add_file_to_s3_cache('touched.png', size_bytes => 31, width => 301, height => 301),
  'SUCCESS', 'a listed file is replaced during the job');
select is(add_file_to_s3_cache('kept-during.jpg', etag => '"k2"'), 'SUCCESS',
  'an unlisted file is refreshed during the job');

-- S3 may answer a page with no keys and a next token; the token still moves on.
create temp table t05_empty_page on commit drop as select s3_cache_rebuild_stage_page(
  (select id from t05_job where name = 'main'), 'w1', 'p2', 'p3', '') as job;
select results_eq(
  $$select job ->> 'continuation_token', job ->> 'pages', job ->> 'listed', job ->> 'listing_complete'
    from t05_empty_page$$,
  $$values ('p3', '2', '6', 'false')$$,
  'an empty listing advances the token and the page count, leaving listed unchanged'
);
select is(
  (select count(*)::int from s3_cache_rebuild_pages
   where job_id = (select id from t05_job where name = 'main')),
  1, 'an empty listing stores no page');

create temp table t05_page2 on commit drop as select s3_cache_rebuild_stage_page(
  (select id from t05_job where name = 'main'), 'w1', 'p3', null,
  E'touched.png\t30\t"t"\t1767225600000\n') as job;
select results_eq(
  $$select job ->> 'continuation_token', job ->> 'pages', job ->> 'listed', job ->> 'listing_complete'
    from t05_page2$$,
  $$values (null::text, '3', '7', 'true')$$,
  'the last page (no next token), staged as listing text, completes the listing'
);
select throws_ok(
  format($$select s3_cache_rebuild_stage_page(%s, 'w1', null, null,
    E'same.jpg\t10\t"same"\t1767225600000\n')$$, (select id from t05_job where name = 'main')),
  '40001',
  format('Cannot stage a page for rebuild %s: its listing is already complete',
    (select id from t05_job where name = 'main')),
  'no page is accepted after the listing is complete');

-- preview -------------------------------------------------------------------------------------
create temp table t05_preview on commit drop as
  select s3_cache_rebuild_preview((select id from t05_job where name = 'main')) as p;
select results_eq(
  $$select p -> 'to_insert', p -> 'to_update', p -> 'to_remove', p -> 'skipped',
      p -> 'missing_from_index', p -> 'missing_from_bucket', p -> 'changed' from t05_preview$$,
  $$values ('1'::jsonb, '1'::jsonb, '1'::jsonb, '2'::jsonb, '["new.webp"]'::jsonb,
    '["vanished.jpg"]'::jsonb, '["changed.jpg"]'::jsonb)$$,
  'preview counts and names what finish will do and the refused names it will skip, leaving out rows written during the job'
);
select is(
  (select jsonb_array_length(s3_cache_rebuild_preview((select id from t05_job where name = 'main'), 0) -> 'changed')),
  0, 'sample_limit bounds the samples');
create temp table t05_after_preview on commit drop as select * from s3_image_cache;
select results_eq(
  format($$select (select count(*)::int from s3_cache_rebuild_pages where job_id = %1$s),
      (select count(*)::int from s3_cache_rebuild_listing where job_id = %1$s),
      (select skipped from s3_cache_rebuilds where id = %1$s)$$,
    (select id from t05_job where name = 'main')),
  $$values (2, 7, 0::bigint)$$,
  'preview keeps the staged pages and records nothing on the job');

-- record_invocation ---------------------------------------------------------------------------
select lives_ok(
  format('select s3_cache_rebuild_record_invocation(%s, 812.5, 9400, 2, 7)',
    (select id from t05_job where name = 'main')),
  'an invocation is recorded');
select results_eq(
  format($$select jsonb_array_length(invocations), invocations -> 0 -> 'cpu_ms',
    invocations -> 0 -> 'keys', invocations -> 0 ? 'at' from s3_cache_rebuilds where id = %s$$,
    (select id from t05_job where name = 'main')),
  $$values (1, '812.5'::jsonb, '7'::jsonb, true)$$,
  'invocations hold {cpu_ms, wall_ms, pages, keys, at}');
select throws_ok('select s3_cache_rebuild_record_invocation(-1, 1, 1, 1, 1)', 'P0002',
  'Rebuild -1 does not exist', 'recording for a missing job raises');

-- finish --------------------------------------------------------------------------------------
create temp table t05_finished on commit drop as
  select s3_cache_rebuild_finish((select id from t05_job where name = 'main')) as job;
select results_eq(
  $$select job ->> 'status', job ->> 'inserted', job ->> 'updated', job ->> 'removed',
    job ->> 'skipped', job ->> 'lease_owner', job ->> 'finished_at' is not null from t05_finished$$,
  $$values ('succeeded', '1', '1', '1', '2', null::text, true)$$,
  'finish succeeds and counts one insert, one update, one removal and two skipped names, releasing the lease'
);
select is(
  (select skipped from s3_cache_rebuilds where id = (select id from t05_job where name = 'main')),
  2::bigint, 'finish records the skipped count on the job');
select is(
  (select array_agg(filename::text order by filename) from s3_image_cache),
  array['changed.jpg', 'kept-during.jpg', 'new.webp', 'same.jpg', 'touched.png',
    'uploaded-during.jpg'],
  'finish removed the vanished row and kept everything written during the job'
);
select results_eq(
  $$select size_bytes, etag, content_type, last_modified, width, height
    from s3_image_cache where filename = 'changed.jpg'$$,
  $$values (21::bigint, '"new"'::text, 'image/jpeg'::text, '2026-02-01 00:00:00+00'::timestamptz,
    null::int, null::int)$$,
  'a changed row takes the bucket''s metadata and forgets its old dimensions'
);
select results_eq(
  $$select size_bytes, etag, content_type from s3_image_cache where filename = 'new.webp'$$,
  $$values (60::bigint, '"w"'::text, 'image/webp'::text)$$,
  'a new row is inserted with its metadata'
);
select results_eq(
  $$select c.updated_at, c.width from s3_image_cache as c where c.filename = 'same.jpg'$$,
  $$select b.updated_at, b.width from t05_before_job as b where b.filename = 'same.jpg'$$,
  'an unchanged row is not touched (updated_at stays)'
);
select results_eq(
  $$select size_bytes, width from s3_image_cache where filename = 'touched.png'$$,
  $$values (31::bigint, 301)$$,
  'a row replaced during the job is not overwritten by older staged data'
);
select is(
  (select count(*)::int from s3_cache_rebuild_pages
   where job_id = (select id from t05_job where name = 'main')),
  0, 'finish drops the job''s pages');
select throws_ok(
  format('select s3_cache_rebuild_finish(%s)', (select id from t05_job where name = 'main')), '55000',
  format('Cannot finish rebuild %s: it is not running (status: succeeded)',
    (select id from t05_job where name = 'main')),
  'a finished job cannot be finished again');
select is(s3_cache_rebuild_status() ->> 'id', (select id::text from t05_job where name = 'main'),
  's3_cache_rebuild_status() returns the latest job');
select is(
  s3_cache_rebuild_status((select id from t05_job where name = 'first')) ->> 'status', 'cancelled',
  's3_cache_rebuild_status(id) returns that job');
select is(s3_cache_rebuild_status(-1), null, 's3_cache_rebuild_status of a missing job is null');
select is(s3_cache_rebuild_claim((select id from t05_job where name = 'main'), 'w1'), null,
  'a finished job cannot be claimed');

-- cancel and fail leave the index exactly as it was --------------------------------------------
create temp table t05_snapshot on commit drop as select * from s3_image_cache;
insert into t05_job select 'cancelled', (s3_cache_rebuild_start('carol') -> 'job' ->> 'id')::bigint;
select isnt(s3_cache_rebuild_claim((select id from t05_job where name = 'cancelled'), 'w3'), null,
  'w3 claims the cancelled job');
select is(s3_cache_rebuild_stage_page((select id from t05_job where name = 'cancelled'), 'w3', null,
  null, E'only-this.jpg\t1\t"o"\t1767225600000\n') ->> 'listing_complete',
  'true', 'the job to cancel has staged a listing that would remove rows');
select is(
  s3_cache_rebuild_cancel((select id from t05_job where name = 'cancelled')) ->> 'status',
  'cancelled', 'a running job is cancelled');
select results_eq(
  'select * from s3_image_cache order by id', 'select * from t05_snapshot order by id',
  'a cancelled job leaves s3_image_cache exactly as it was');
select is(
  (select count(*)::int from s3_cache_rebuild_pages
   where job_id = (select id from t05_job where name = 'cancelled')),
  0, 'cancel drops the job''s pages');
select throws_ok(
  format('select s3_cache_rebuild_cancel(%s)', (select id from t05_job where name = 'cancelled')),
  '55000',
  format('Cannot cancel rebuild %s: it is not running (status: cancelled)',
    (select id from t05_job where name = 'cancelled')),
  'cancelling a job that is not running names its status');
select throws_ok('select s3_cache_rebuild_cancel(-1)', 'P0002', 'Rebuild -1 does not exist',
  'cancelling a missing job says so');

insert into t05_job select 'failed', (s3_cache_rebuild_start('dave') -> 'job' ->> 'id')::bigint;
select isnt(s3_cache_rebuild_claim((select id from t05_job where name = 'failed'), 'w4'), null,
  'w4 claims the failed job');
select is(s3_cache_rebuild_stage_page((select id from t05_job where name = 'failed'), 'w4', null,
  null, E'only-this.jpg\t1\t"o"\t1767225600000\n') ->> 'listing_complete',
  'true', 'the job to fail has staged a listing that would remove rows');
select results_eq(
  format($$select r ->> 'status', r ->> 'error' from s3_cache_rebuild_fail(%s, 'S3 said 403') as r$$,
    (select id from t05_job where name = 'failed')),
  $$values ('failed', 'S3 said 403')$$,
  'a failed job records its error');
select results_eq(
  'select * from s3_image_cache order by id', 'select * from t05_snapshot order by id',
  'a failed job leaves s3_image_cache exactly as it was');
select is(
  (select count(*)::int from s3_cache_rebuild_pages
   where job_id = (select id from t05_job where name = 'failed')),
  0, 'fail drops the job''s pages');
select throws_ok(
  format('select s3_cache_rebuild_fail(%s, %L)', (select id from t05_job where name = 'failed'), 'again'),
  '55000',
  format('Cannot fail rebuild %s: it is not running (status: failed)',
    (select id from t05_job where name = 'failed')),
  'failing a job that is not running names its status');

-- reconcile: the same primitives, previewed then applied ---------------------------------------
insert into t05_job
  select 'reconcile', (s3_cache_rebuild_start('erin', 'reconcile') -> 'job' ->> 'id')::bigint;
select isnt(s3_cache_rebuild_claim((select id from t05_job where name = 'reconcile'), 'w5'), null,
  'w5 claims the reconcile job');
select is(s3_cache_rebuild_stage_page((select id from t05_job where name = 'reconcile'), 'w5',
  null, null, (
    -- The index as the bucket would list it (an empty field is NULL).
    select string_agg(format(E'%s\t%s\t%s\t%s\n', c.filename, c.size_bytes, c.etag,
      (extract(epoch from c.last_modified) * 1000)::bigint), '' order by c.id)
    from s3_image_cache as c where c.filename <> 'same.jpg'))
  ->> 'listed', '5', 'the reconcile job lists the bucket');
select is(
  (select count(*)::int from s3_cache_rebuild_listing
   where job_id = (select id from t05_job where name = 'reconcile') and action = 'keep'),
  5, 'every listed name of an unchanged bucket is kept');
select is(
  s3_cache_rebuild_preview((select id from t05_job where name = 'reconcile')) -> 'missing_from_bucket',
  '["same.jpg"]'::jsonb, 'a reconcile preview names the file missing from the bucket');
select results_eq(
  format($$select r ->> 'mode', r ->> 'inserted', r ->> 'updated', r ->> 'removed', r ->> 'skipped'
    from s3_cache_rebuild_finish(%s) as r$$, (select id from t05_job where name = 'reconcile')),
  $$values ('reconcile', '0', '0', '1', '0')$$,
  'a reconcile job applies like a rebuild');

select * from finish();
rollback;
