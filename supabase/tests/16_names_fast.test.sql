-- The rebuild's fast name checks (..._rebuild_names_fast.sql): s3_cache_rebuild_plain_name and the
-- whole-page expression of s3_cache_rebuild_listed must never accept a name
-- s3_cache_filename_problem refuses, and should accept every printable ASCII name it accepts
-- (else that name costs the long check, ~300 µs). Checked for every printable ASCII character at
-- the start, middle and end of a name, doubled, and next to a dot; each name once alone on a page
-- (the page path) and once on a page with every other name (the per-name path). Then: both
-- helpers are inlined where preview and finish call them (a SET clause or a plpgsql body would
-- stop that, and the finish of a million names would call a function a million times).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(7);

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
delete from s3_cache_rebuilds where status <> 'running';

create temp table t16_names (name text primary key) on commit drop;
insert into t16_names
select distinct n
from generate_series(32, 126) as g (code)
cross join lateral (select chr(g.code) as c) as x
cross join lateral unnest(array[
  x.c || 'x.jpg', 'x' || x.c || '.jpg', 'x' || x.c || x.c || 'y.png', 'x.' || x.c || 'y.webp',
  'x' || x.c || '.y.gif', 'x.jpg' || x.c, x.c || '.jpeg', 'A&B-' || x.c || '14000-2.avif',
  'x.' || x.c || '.jpg', x.c || x.c || '.JPG'
]) as n;
-- Near the edges: the length limit, non-ASCII, control characters, a trailing space.
insert into t16_names values
  (repeat('&', 251) || '.jpg'), (repeat('&', 252) || '.jpg'), ('é&.jpg'), (E'x\x01&.jpg'),
  ('x& .jpg'), ('x&.jpg '), (U&'x\00A0.jpg')
on conflict do nothing;

select is(
  (select array_agg(name order by name collate "C") from t16_names
   where s3_image_cache_private.s3_cache_rebuild_plain_name(name)
     and s3_cache_filename_problem(name) is not null),
  null,
  'the per-name fast check accepts no name the rules refuse'
);
select is(
  (select array_agg(name order by name collate "C") from t16_names
   where name ~ '^[\x20-\x7e]*$'
     and s3_cache_filename_problem(name) is null
     and not s3_image_cache_private.s3_cache_rebuild_plain_name(name)),
  null,
  'the per-name fast check accepts every printable ASCII name the rules accept'
);
select ok(
  (select count(*) from t16_names where s3_cache_filename_problem(name) is null) > 500
    and (select count(*) from t16_names where s3_cache_filename_problem(name) is not null) > 100,
  'the names hold both kinds in numbers'
);

-- Stages `pages` as one job's listing (in order) and returns the job id.
create function pg_temp.t16_job(pages text[]) returns bigint language plpgsql as $$
declare
  job_id bigint := (public.s3_cache_rebuild_start('t16') -> 'job' ->> 'id')::bigint;
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

-- How a key is written into a page (COPY's text format, as listing_page.ts writes it).
create function pg_temp.t16_line(name text) returns text language sql immutable as $$
  select replace(replace(replace(replace(name, '\', '\\'), E'\t', '\t'), E'\n', '\n'), E'\r', '\r')
    || E'\t1\t"e"\t1767225600000\n'
$$;

create temp table t16_jobs (how text primary key, id bigint) on commit drop;
insert into t16_jobs values ('alone', pg_temp.t16_job(
  (select array_agg(pg_temp.t16_line(name) order by name collate "C") from t16_names)));
update s3_cache_rebuilds set status = 'cancelled', finished_at = now()
where id = (select id from t16_jobs where how = 'alone');
insert into t16_jobs values ('together', pg_temp.t16_job(array[
  (select string_agg(pg_temp.t16_line(name), '' order by name collate "C") from t16_names)]));

select is(
  (select array_agg(l.filename order by l.filename collate "C")
   from s3_image_cache_private.s3_cache_rebuild_listed((select id from t16_jobs where how = 'alone')) as l
   where l.valid is distinct from (s3_cache_filename_problem(l.filename) is null)),
  null,
  'each name alone on its page (the whole-page check): valid exactly when the rules accept it'
);
select is(
  (select array_agg(l.filename order by l.filename collate "C")
   from s3_image_cache_private.s3_cache_rebuild_listed((select id from t16_jobs where how = 'together')) as l
   where l.valid is distinct from (s3_cache_filename_problem(l.filename) is null)),
  null,
  'every name on one page (the per-name check): valid exactly when the rules accept it'
);

-- Inlined: the plan names neither function (a Function Scan or a call would show it).
create function pg_temp.t16_plan() returns text language plpgsql as $$
declare
  line text;
  plan text := '';
begin
  for line in execute 'explain (verbose, costs off) select count(*) filter (where l.valid)
      from s3_image_cache_private.s3_cache_rebuild_listed(1) as l' loop
    plan := plan || line || E'\n';
  end loop;
  return plan;
end;
$$;
select unalike(pg_temp.t16_plan(), '%s3_cache_rebuild_listed%',
  'the listing function is inlined into its caller''s plan');
select unalike(pg_temp.t16_plan(), '%s3_cache_rebuild_plain_name%',
  'the per-name check is inlined into its caller''s plan');

select * from finish();
rollback;
