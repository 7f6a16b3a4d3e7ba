-- The file API: what a DBA in psql and the edge functions call for single files, bulk adds,
-- look-ups and prefix search, and the memory of removals that keeps a running rebuild from
-- bringing a removed file back.
--
-- Why this exists: the original system had one function, add_file_to_s3_cache(varchar), and
-- otherwise wrote the table by hand. Here every write checks the name rules
-- (..._filename_rules.sql) and answers in one shape, the storefront's question ("which of these
-- names have an image?") is one call it may make itself, and an admin pages through the index in
-- S3's order.
--
-- Safe to run again: every function is created here and nowhere else, with create or replace;
-- the table with if not exists.

set client_min_messages = warning;

-- Names removed from the index by remove_file_from_s3_cache, and when. A rebuild lists the
-- bucket over minutes; a file an admin removes meanwhile may already be in its listing, and
-- finish must not bring it back: it leaves out names removed since its job started. Rows older
-- than the newest job's start can matter to no job, so s3_cache_rebuild_start deletes them.
create table if not exists s3_image_cache_private.s3_cache_removals (
  filename text primary key,
  removed_at timestamptz not null default pg_catalog.clock_timestamp()
);
comment on table s3_image_cache_private.s3_cache_removals is
  'Names removed from s3_image_cache since the latest rebuild started; a finish does not re-add them.';
revoke all on table s3_image_cache_private.s3_cache_removals from public, anon, authenticated;
grant select, insert, update, delete on table s3_image_cache_private.s3_cache_removals
  to service_role;

-- The original script's one-argument add_file_to_s3_cache (varchar as documented, text in some
-- copies) would make one-argument calls ambiguous; an upgraded database drops it here.
drop function if exists public.add_file_to_s3_cache(varchar);
drop function if exists public.add_file_to_s3_cache(text);

-- Adds one file to the index under its stored form (s3_cache_normalize_filename), or refreshes
-- it (updated_at moves; given metadata overwrites, NULL metadata keeps what is stored). Returns
-- 'SUCCESS' or a readable message; never raises for bad input, so a DBA in psql and the
-- functions read the outcome the same way.
--   select add_file_to_s3_cache('14000.jpg');
--   select add_file_to_s3_cache('14000.jpg', size_bytes => 52311, width => 800, height => 800);
create or replace function public.add_file_to_s3_cache(
  filename text,
  size_bytes bigint default null,
  etag text default null,
  content_type text default null,
  last_modified timestamptz default null,
  width integer default null,
  height integer default null
)
returns text
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  checked record;
  problem text;
begin
  select c.problem, c.normalized, c.content_type into checked
  from s3_image_cache_private.s3_cache_check_filenames(array[add_file_to_s3_cache.filename]) as c;
  problem := coalesce(checked.problem, case
    when add_file_to_s3_cache.size_bytes < 0 then 'the size must not be negative'
    when add_file_to_s3_cache.width <= 0 then 'the width must be a positive number'
    when add_file_to_s3_cache.height <= 0 then 'the height must be a positive number'
  end);
  if problem is not null then
    return s3_image_cache_private.s3_cache_file_error('add', add_file_to_s3_cache.filename, problem);
  end if;

  insert into public.s3_image_cache as c
    (filename, size_bytes, etag, content_type, last_modified, width, height)
  values (
    checked.normalized,
    add_file_to_s3_cache.size_bytes,
    add_file_to_s3_cache.etag,
    coalesce(add_file_to_s3_cache.content_type, checked.content_type),
    add_file_to_s3_cache.last_modified,
    add_file_to_s3_cache.width,
    add_file_to_s3_cache.height
  )
  on conflict (filename) do update set
    size_bytes = coalesce(excluded.size_bytes, c.size_bytes),
    etag = coalesce(excluded.etag, c.etag),
    content_type = coalesce(add_file_to_s3_cache.content_type, c.content_type, excluded.content_type),
    last_modified = coalesce(excluded.last_modified, c.last_modified),
    width = coalesce(excluded.width, c.width),
    height = coalesce(excluded.height, c.height);
  return 'SUCCESS';
end;
$$;
revoke all on function public.add_file_to_s3_cache(text, bigint, text, text, timestamptz, integer, integer) from public, anon, authenticated;
grant execute on function public.add_file_to_s3_cache(text, bigint, text, text, timestamptz, integer, integer) to service_role;

-- Adds many names at once (each under its stored form) and returns how many were new. All or
-- nothing: the first invalid name (in array order) raises `Cannot add file "<name>": <problem>`
-- (22023) and nothing is added. Names that store alike count once; names already present are
-- refreshed, not counted.
--   select add_files_to_s3_cache(array['14000.jpg', '14001.png']);
create or replace function public.add_files_to_s3_cache(filenames text[])
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  first_invalid record;
  added integer;
begin
  select c.filename, c.problem
  into first_invalid
  from s3_image_cache_private.s3_cache_check_filenames(add_files_to_s3_cache.filenames) as c
  where c.problem is not null
  order by c.ordinality
  limit 1;
  if found then
    raise exception using
      errcode = '22023',
      message = s3_image_cache_private.s3_cache_file_error('add', first_invalid.filename, first_invalid.problem);
  end if;

  -- Sorted so that concurrent bulk adds lock rows in the same order.
  with upserted as (
    insert into public.s3_image_cache as c (filename, content_type)
    select distinct on (n.normalized) n.normalized, n.content_type
    from s3_image_cache_private.s3_cache_check_filenames(add_files_to_s3_cache.filenames) as n
    order by n.normalized
    on conflict (filename) do update set content_type = coalesce(c.content_type, excluded.content_type)
    returning (c.xmax = 0) as is_new
  )
  select count(*) filter (where u.is_new) into added from upserted as u;
  return added;
end;
$$;
revoke all on function public.add_files_to_s3_cache(text[]) from public, anon, authenticated;
grant execute on function public.add_files_to_s3_cache(text[]) to service_role;

-- Removes one file from the index: the name as given, else its stored form (so `14000.JPG`
-- finds a row written as `14000.jpg`, and a legacy row named `14000.JPG` is still removable).
-- Returns 'SUCCESS', or `Cannot remove file "<name>": ...` for an invalid name or one that is not
-- in the cache; never raises for bad input. The removal is remembered, so a rebuild that is
-- running does not add the file back from a listing made before it was deleted.
--   select remove_file_from_s3_cache('14000.jpg');
create or replace function public.remove_file_from_s3_cache(filename text)
returns text
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  checked record;
  removed text;
begin
  select c.problem, c.normalized into checked
  from s3_image_cache_private.s3_cache_check_filenames(array[remove_file_from_s3_cache.filename]) as c;
  if checked.problem is not null then
    return s3_image_cache_private.s3_cache_file_error(
      'remove', remove_file_from_s3_cache.filename, checked.problem
    );
  end if;
  delete from public.s3_image_cache as c where c.filename = remove_file_from_s3_cache.filename
  returning c.filename into removed;
  if removed is null then
    delete from public.s3_image_cache as c where c.filename = checked.normalized
    returning c.filename into removed;
  end if;
  if removed is null then
    return s3_image_cache_private.s3_cache_file_error(
      'remove', remove_file_from_s3_cache.filename, 'it is not in the cache'
    );
  end if;
  insert into s3_image_cache_private.s3_cache_removals as r (filename, removed_at)
  values (removed, pg_catalog.clock_timestamp())
  on conflict (filename) do update set removed_at = excluded.removed_at;
  return 'SUCCESS';
end;
$$;
revoke all on function public.remove_file_from_s3_cache(text) from public, anon, authenticated;
grant execute on function public.remove_file_from_s3_cache(text) to service_role;

-- Which of these names have an image? One unique-index probe per name; names not in the cache
-- are simply absent from the result (ordered by filename). At most 1,000 names per call.
-- Readable by anon and authenticated (it runs with the caller's rights, under RLS).
--   select filename, size_bytes from lookup_s3_cache(array['14000.jpg', '99999.jpg']);
create or replace function public.lookup_s3_cache(filenames text[])
returns table (
  filename text,
  size_bytes bigint,
  etag text,
  content_type text,
  last_modified timestamptz,
  width integer,
  height integer,
  updated_at timestamptz
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
#variable_conflict use_column
begin
  if pg_catalog.cardinality(lookup_s3_cache.filenames) > 1000 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot look up more than 1000 names at once: got %s',
        pg_catalog.cardinality(lookup_s3_cache.filenames)
      );
  end if;
  return query
    select c.filename::text, c.size_bytes, c.etag, c.content_type, c.last_modified, c.width,
      c.height, c.updated_at
    from public.s3_image_cache as c
    where c.filename::text = any (lookup_s3_cache.filenames)
    order by c.filename;
end;
$$;
revoke all on function public.lookup_s3_cache(text[]) from public, anon, authenticated;
grant execute on function public.lookup_s3_cache(text[]) to service_role;
-- The storefront asks this question, signed in or not.
grant execute on function public.lookup_s3_cache(text[]) to anon, authenticated;

-- A page of index rows whose filename starts with prefix (% and _ in it are literal), after the
-- cursor `after`, in S3's byte order. page_size 1..1000.
--   select filename from search_s3_cache('140', page_size => 20);
--   select filename from search_s3_cache('140', after => '14019.jpg', page_size => 20);
create or replace function public.search_s3_cache(
  prefix text default '',
  after text default null,
  page_size integer default 100
)
returns setof public.s3_image_cache
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if page_size is null or page_size < 1 or page_size > 1000 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot search the cache: page_size must be between 1 and 1000, got %s',
        coalesce(page_size::text, 'null')
      );
  end if;
  -- Dynamic SQL on purpose: a one-shot plan sees the pattern's value, so the planner turns the
  -- LIKE prefix into bounds on s3_image_cache_filename_c_idx (a cached generic plan could not).
  return query execute
    'select c.* from public.s3_image_cache as c
     where (c.filename collate "C") like $1
       and ($2::text is null or (c.filename collate "C") > $2)
     order by c.filename collate "C"
     limit $3'
    using
      pg_catalog.replace(
        pg_catalog.replace(pg_catalog.replace(coalesce(prefix, ''), '\', '\\'), '%', '\%'),
        '_', '\_'
      ) || '%',
      after,
      page_size;
end;
$$;
revoke all on function public.search_s3_cache(text, text, integer) from public, anon, authenticated;
grant execute on function public.search_s3_cache(text, text, integer) to service_role;

