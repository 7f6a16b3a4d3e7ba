-- Preview and finish as ..._rebuild_finish_scale.sql reads the listing: one regular expression
-- over a whole page proves its names valid when every name on it is a plain product name, else
-- each name takes the per-name check; one full join of the listing with the index finds what to
-- insert, update, skip and remove. The names below are each staged alone on a page (so a plain
-- name takes the page path) and all together on one page (so every name takes the per-name path):
-- both must insert exactly the names s3_cache_filename_problem accepts. Then a mixed listing
-- against an index: preview and finish agree, a refused indexed name listed twice is removed once,
-- unchanged rows keep their updated_at. Not timing: scripts/bench/scale_finish.ts measures that.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(12);

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
delete from s3_cache_rebuilds where status <> 'running';
delete from s3_image_cache;

create temp table t15_names (name text primary key) on commit drop;
insert into t15_names values
  ('14000.jpg'), ('14000-2.webp'), ('14000.JPG'), ('a b.png'), ('_x-y.webp'), ('a.b.gif'),
  ('z.AVIF'), ('p.jpeg'), ('-x.jpg'), ('x .jpg'), ('x.JpEg'), ('1.webp.jpg'), ('x.jpG'),
  ('a. b.jpg'), ('a.-b.png'),
  ('..jpg'), ('a..b.jpg'), ('a...jpg'), ('a..jpg'), ('.jpg'), ('x.jpg.txt'), ('x.svg'),
  ('dir/x.jpg'), ('dir\x.jpg'), (' x.jpg'), ('x.jpg '), ('noext'), ('x.'), ('x.jpg.'),
  ('x.pngx'), ('x.jp g'), ('.hidden.png'), ('a.jpg..png'), ('é.jpg'), (U&'a\2028b.jpg'),
  (repeat('a', 251) || '.jpg'), (repeat('a', 252) || '.jpg'), (repeat('a.', 126) || 'jpg'),
  (repeat('a.', 127) || 'jpg'), (E'x\tb.jpg'), (E'x\nb.jpg'), (E'x\x01b.jpg'), ('x.jpg\');

-- How a key is written into a page (COPY's text format, as listing_page.ts writes it).
create function pg_temp.t15_escaped(name text) returns text language sql immutable as $$
  select replace(replace(replace(replace(name, '\', '\\'), E'\t', '\t'), E'\n', '\n'), E'\r', '\r')
$$;

-- Starts a job, stages `pages` in order and returns the job id.
create function pg_temp.t15_job(pages text[]) returns bigint language plpgsql as $$
declare
  job_id bigint := (public.s3_cache_rebuild_start('t15') -> 'job' ->> 'id')::bigint;
  token text;
begin
  perform public.s3_cache_rebuild_claim(job_id, 'w', 60);
  for i in 1 .. coalesce(array_length(pages, 1), 0) loop
    perform public.s3_cache_rebuild_stage_page(job_id, 'w', token,
      case when i < array_length(pages, 1) then 'p' || i end, pages[i]);
    token := 'p' || i;
  end loop;
  return job_id;
end;
$$;

create temp table t15_result (name text primary key, id bigint, job jsonb, preview jsonb)
  on commit drop;

-- Each name alone on its page ---------------------------------------------------------------------
insert into t15_result (name, id) select 'alone', pg_temp.t15_job(
  (select array_agg(pg_temp.t15_escaped(name) || E'\t1\t"e"\t1767225600000\n' order by name)
   from t15_names));
update t15_result set preview = s3_cache_rebuild_preview(id, 1000)
where name = 'alone';
update t15_result set job = s3_cache_rebuild_finish(id) where name = 'alone';

select is(
  (select array_agg(n order by n collate "C")
   from jsonb_array_elements_text((select preview -> 'missing_from_index' from t15_result
     where name = 'alone')) as n),
  (select array_agg(name order by name collate "C") from t15_names
   where s3_cache_filename_problem(name) is null),
  'names alone on their pages: preview marks for insertion exactly the names the rules accept'
);
select results_eq(
  $$select (job ->> 'inserted')::int, (job ->> 'skipped')::int from t15_result where name = 'alone'$$,
  $$select (count(*) filter (where s3_cache_filename_problem(name) is null))::int,
      (count(*) filter (where s3_cache_filename_problem(name) is not null))::int from t15_names$$,
  'names alone on their pages: finish inserts every accepted name and skips every refused one'
);
select results_eq(
  $$select filename::text from s3_image_cache order by filename collate "C"$$,
  $$select name from t15_names where s3_cache_filename_problem(name) is null
    order by name collate "C"$$,
  'names alone on their pages: the index holds exactly the accepted names'
);

-- All names on one page (the per-name path) ------------------------------------------------------
delete from s3_cache_rebuilds where status <> 'running';
delete from s3_image_cache;
insert into t15_result (name, id) select 'together', pg_temp.t15_job(array[
  (select string_agg(pg_temp.t15_escaped(name) || E'\t1\t"e"\t1767225600000\n', '' order by name)
   from t15_names)]);
update t15_result set job = s3_cache_rebuild_finish(id) where name = 'together';
select results_eq(
  $$select filename::text from s3_image_cache order by filename collate "C"$$,
  $$select name from t15_names where s3_cache_filename_problem(name) is null
    order by name collate "C"$$,
  'names together on one page: the index holds exactly the accepted names'
);

-- A mixed listing against an index ----------------------------------------------------------------
delete from s3_cache_rebuilds where status <> 'running';
delete from s3_image_cache;
insert into s3_image_cache (filename, size_bytes, etag, last_modified) values
  ('same.jpg', 1, '"s"', '2026-01-01 00:00:00+00'),
  ('changed.jpg', 1, '"c"', '2026-01-01 00:00:00+00'),
  ('gone.jpg', 1, '"g"', '2026-01-01 00:00:00+00'),
  ('legacy notes.txt', 1, '"l"', '2026-01-01 00:00:00+00'),
  ('more.jpg', 1, '"m"', '2026-01-01 00:00:00+00'),
  ('extra.jpg', 1, '"x"', '2026-01-01 00:00:00+00');
create temp table t15_before on commit drop as select filename, updated_at from s3_image_cache;

insert into t15_result (name, id) select 'mixed', pg_temp.t15_job(array[
  -- A plain page: same.jpg unchanged, changed.jpg with a new etag, new.png new.
  E'changed.jpg\t1\t"c2"\t1767225600000\n'
    || E'more.jpg\t1\t"m"\t1767225600000\n'
    || E'new.png\t2\t"n"\t1767225600000\n'
    || E'same.jpg\t1\t"s"\t1767225600000\n',
  -- A page with refused names: the indexed legacy name twice, a folder key, and extra.jpg.
  E'extra.jpg\t1\t"x"\t1767225600000\n'
    || E'legacy notes.txt\t1\t"l"\t1767225600000\n'
    || E'legacy notes.txt\t1\t"l"\t1767225600000\n'
    || E'photos/\t0\t"d"\t1767225600000\n'
]);
-- Written after the job started and not listed: kept.
select add_file_to_s3_cache('uploaded-during.jpg');
update t15_result set preview = s3_cache_rebuild_preview(id, 10)
where name = 'mixed';
select is(
  (select preview - 'job_id' from t15_result where name = 'mixed'),
  '{"to_insert": 1, "to_update": 1, "to_remove": 2, "skipped": 2,
    "missing_from_index": ["new.png"], "changed": ["changed.jpg"],
    "missing_from_bucket": ["gone.jpg", "legacy notes.txt"]}'::jsonb,
  'preview: one new, one changed, the unlisted row and the listed refused one to remove, two refused names'
);
update t15_result set job = s3_cache_rebuild_finish(id) where name = 'mixed';
select results_eq(
  $$select job ->> 'status', (job ->> 'inserted')::int, (job ->> 'updated')::int,
      (job ->> 'removed')::int, (job ->> 'skipped')::int from t15_result where name = 'mixed'$$,
  $$values ('succeeded', 1, 1, 2, 2)$$,
  'finish applies what preview said: the refused indexed name listed twice is removed once'
);
select results_eq(
  $$select filename::text, etag from s3_image_cache order by filename collate "C"$$,
  $$values ('changed.jpg'::text, '"c2"'::text), ('extra.jpg', '"x"'), ('more.jpg', '"m"'),
    ('new.png', '"n"'), ('same.jpg', '"s"'), ('uploaded-during.jpg', null)$$,
  'the index: unchanged and changed rows, the new name, the upload during the job'
);
select is(
  (select array_agg(c.filename::text order by c.filename collate "C")
   from s3_image_cache as c join t15_before as b using (filename, updated_at)),
  array['extra.jpg', 'more.jpg', 'same.jpg'],
  'unchanged rows are not touched: their updated_at stays'
);

-- A name removed while the job runs ---------------------------------------------------------------
insert into t15_result (name, id) select 'removed', pg_temp.t15_job(array[
  E'changed.jpg\t1\t"c2"\t1767225600000\n'
    || E'extra.jpg\t1\t"x"\t1767225600000\n'
    || E'late.jpg\t1\t"l"\t1767225600000\n'
    || E'more.jpg\t1\t"m"\t1767225600000\n'
    || E'new.png\t2\t"n"\t1767225600000\n'
    || E'same.jpg\t1\t"s"\t1767225600000\n'
    || E'uploaded-during.jpg\t\t\t\n'
]);
select is(remove_file_from_s3_cache('more.jpg'), 'SUCCESS', 'more.jpg is removed while the job runs');
update t15_result set job = s3_cache_rebuild_finish(id) where name = 'removed';
select results_eq(
  $$select (job ->> 'inserted')::int, (job ->> 'updated')::int, (job ->> 'removed')::int
    from t15_result where name = 'removed'$$,
  $$values (1, 0, 0)$$,
  'a name removed during the job is not added back (only late.jpg is new), nor counted'
);

-- Settings ------------------------------------------------------------------------------------------
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc as p
   where p.pronamespace = 'public'::regnamespace and p.proconfig @> array['lock_timeout=10s']),
  array['s3_cache_rebuild_finish', 's3_cache_rebuild_preview'],
  'finish and preview give up a lock wait after 10 s instead of holding the worker past its wall'
);
select is(
  (select count(*)::int from s3_cache_rebuild_pages), 0,
  'every finished job dropped its pages'
);

select * from finish();
rollback;
