-- The read side: lookup_s3_cache (the storefront's many-names question), search_s3_cache (prefix
-- search in S3 byte order with a cursor) and s3_cache_stats.
begin;
create extension if not exists pgtap with schema extensions;
-- Hosted Supabase has extensions on the search_path already; a bare cluster does not.
set local search_path = public, extensions;
select plan(24);

insert into s3_image_cache (filename, size_bytes, etag) values
  ('t03-a.jpg', 100, '"a"'), ('t03-b.png', 200, '"b"'), ('t03-B.png', 50, null),
  ('t03_c.gif', 10, null), ('t03xc.gif', 20, null), ('t03-%.jpg', 1, null),
  ('t03-é.jpg', 5, null), ('t03-z.jpg', null, null);

-- lookup_s3_cache
select results_eq(
  $$select filename, size_bytes from lookup_s3_cache(
      array['t03-b.png', 'missing.jpg', 't03-a.jpg', 't03-a.jpg', null])$$,
  $$values ('t03-a.jpg'::text, 100::bigint), ('t03-b.png', 200)$$,
  'lookup_s3_cache returns each present name once, absent names not at all'
);
select is((select count(*)::int from lookup_s3_cache(array[]::text[])), 0,
  'lookup_s3_cache of no names is empty');
select lives_ok(
  $$select * from lookup_s3_cache(array(select 'n' || g || '.jpg' from generate_series(1, 1000) as g))$$,
  'lookup_s3_cache takes 1000 names');
select throws_ok(
  $$select * from lookup_s3_cache(array(select 'n' || g || '.jpg' from generate_series(1, 1001) as g))$$,
  '22023', 'Cannot look up more than 1000 names at once: got 1001',
  'lookup_s3_cache refuses more than 1000 names');

-- The plan: one probe of the unique index per name, not a scan of the table. The fixture is tiny,
-- where a scan is cheaper, so the planner is told to avoid scans: the test is whether the query
-- can use the index at all (a type or collation mismatch would make that impossible).
create temp table t03_plan (line text) on commit drop;
do $$
declare
  plan_line text;
begin
  set local enable_seqscan = off;
  for plan_line in execute
    $q$explain select c.filename from public.s3_image_cache as c
       where c.filename::text = any (array['t03-a.jpg', 't03-b.png'])$q$
  loop
    insert into t03_plan values (plan_line);
  end loop;
  set local enable_seqscan = on;
end
$$;
select ok(
  (select bool_or(line ~ 'Index (Only )?Scan using s3_image_cache_filename_key'
    or line ~ 'Bitmap Index Scan on s3_image_cache_filename_key') from t03_plan),
  'lookup_s3_cache''s query probes the unique filename index'
);

-- search_s3_cache
select results_eq(
  $$select filename::text from search_s3_cache('t03-', page_size => 10)$$,
  $$values ('t03-%.jpg'), ('t03-B.png'), ('t03-a.jpg'), ('t03-b.png'), ('t03-z.jpg'), ('t03-é.jpg')$$,
  'search_s3_cache returns the prefix in byte order (uppercase before lowercase, é last)'
);
select results_eq(
  $$select filename::text from search_s3_cache('t03_', page_size => 10)$$,
  $$values ('t03_c.gif')$$,
  'an underscore in the prefix is literal, not a wildcard'
);
select results_eq(
  $$select filename::text from search_s3_cache('t03-%', page_size => 10)$$,
  $$values ('t03-%.jpg')$$,
  'a percent sign in the prefix is literal, not a wildcard'
);
select results_eq(
  $$select filename::text from search_s3_cache('t03-', 't03-a.jpg', 2)$$,
  $$values ('t03-b.png'), ('t03-z.jpg')$$,
  'search_s3_cache continues after the cursor and stops at page_size'
);
select results_eq(
  $$select filename::text from search_s3_cache(prefix => 't03', page_size => 3)$$,
  $$values ('t03-%.jpg'), ('t03-B.png'), ('t03-a.jpg')$$,
  'search_s3_cache takes named arguments'
);
select is((select count(*)::int from search_s3_cache('t03-nothing')), 0,
  'an unmatched prefix returns nothing');
select ok((select count(*) from search_s3_cache()) >= 8, 'the default prefix matches everything');
select throws_ok($$select * from search_s3_cache('t03', null, 0)$$, '22023',
  'Cannot search the cache: page_size must be between 1 and 1000, got 0',
  'page_size 0 is refused');
select throws_ok($$select * from search_s3_cache('t03', null, 1001)$$, '22023',
  'Cannot search the cache: page_size must be between 1 and 1000, got 1001',
  'page_size 1001 is refused');

create temp table t03_search_plan (line text) on commit drop;
do $$
declare
  plan_line text;
begin
  set local enable_seqscan = off;
  for plan_line in execute
    $q$explain select c.* from public.s3_image_cache as c
       where (c.filename collate "C") like 't03-%' order by c.filename collate "C" limit 10$q$
  loop
    insert into t03_search_plan values (plan_line);
  end loop;
  set local enable_seqscan = on;
end
$$;
select ok(
  (select bool_or(line ~ 'Index Scan using s3_image_cache_filename_c_idx') from t03_search_plan),
  'the prefix query walks the collate "C" index'
);

-- s3_cache_stats
update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
create temp table t03_expected on commit drop as
  select count(*) as n, coalesce(sum(size_bytes), 0)::bigint as bytes from s3_image_cache;
select is((s3_cache_stats() ->> 'count')::bigint, (select n from t03_expected),
  's3_cache_stats counts the rows');
select is((s3_cache_stats() ->> 'total_bytes')::bigint, (select bytes from t03_expected),
  's3_cache_stats sums size_bytes');
select is(add_file_to_s3_cache('t03-newest.jpg'), 'SUCCESS', 'a fresh add');
select is(s3_cache_stats() -> 'newest' ->> 'filename', 't03-newest.jpg',
  'newest is the most recently written row');
select is(s3_cache_stats() -> 'running_rebuild', 'null'::jsonb,
  'running_rebuild is null without a running job');
-- An ended job of our own: on a fresh cluster there is none, and comparing last_rebuild's null
-- with the latest job's null would prove nothing.
select s3_cache_rebuild_cancel((s3_cache_rebuild_start('t03-ended') -> 'job' ->> 'id')::bigint);
select is(s3_cache_stats() -> 'last_rebuild' ->> 'id',
  (select id::text from s3_cache_rebuilds where started_by = 't03-ended'),
  'last_rebuild is the latest ended job');
select is(s3_cache_stats() -> 'last_rebuild' ->> 'status', 'cancelled',
  'last_rebuild carries that job''s status');
select is(s3_cache_rebuild_start('t03') ->> 'started', 'true', 'a job starts');
select is(s3_cache_stats() -> 'running_rebuild' ->> 'status', 'running',
  'running_rebuild shows the running job');

select * from finish();
rollback;
