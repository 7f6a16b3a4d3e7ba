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
-- it (updated_at moves; given metadata overwrites, NULL metadata keeps what is stored). A row
-- whose name is exactly the one given (a legacy or rebuilt key not in stored form, `a.PNG`) is
-- the one refreshed: every function addresses a name the same way, exactly as stored first, else
-- by its stored form (remove_file_from_s3_cache, lookup_s3_cache). Returns
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
    case
      when exists (
        select 1 from public.s3_image_cache as e where e.filename = add_file_to_s3_cache.filename
      ) then add_file_to_s3_cache.filename
      else checked.normalized
    end,
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

-- Adds many names at once (each under its stored form, or exactly as given when a row has that
-- name, as add_file_to_s3_cache) and returns how many were new. All or
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
    select distinct on (a.filename) a.filename, a.content_type
    from (
      select coalesce(e.filename::text, n.normalized) as filename, n.content_type
      from s3_image_cache_private.s3_cache_check_filenames(add_files_to_s3_cache.filenames) as n
      left join public.s3_image_cache as e on e.filename = n.filename
    ) as a
    order by a.filename
    on conflict (filename) do update set content_type = coalesce(c.content_type, excluded.content_type)
    returning (c.xmax = 0) as is_new
  )
  select count(*) filter (where u.is_new) into added from upserted as u;
  return added;
end;
$$;
revoke all on function public.add_files_to_s3_cache(text[]) from public, anon, authenticated;
grant execute on function public.add_files_to_s3_cache(text[]) to service_role;

-- Removes one file from the index and says which row went: removed is the exact filename of the
-- removed row (NULL when none was), problem why nothing was removed (NULL when a row was): a
-- name rule's message, or 'it is not in the cache'. The row addressed is the one named exactly as
-- given, else the one under the name's stored form: `14000.JPG` finds a row written as
-- `14000.jpg`, and a legacy or rebuilt row named `14000.JPG` (or one the rules now refuse) is
-- removed as it is. A caller deleting the object too deletes exactly `removed`, never a key
-- computed from the name it was given. The removal is remembered, so a rebuild that is running
-- does not add the file back from a listing made before it was deleted.
--   select removed, problem from s3_cache_remove_file('14000.jpg');
create or replace function public.s3_cache_remove_file(filename text)
returns table (removed text, problem text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  checked record;
begin
  delete from public.s3_image_cache as c where c.filename = s3_cache_remove_file.filename
  returning c.filename into removed;
  if removed is null then
    select c.problem, c.normalized into checked
    from s3_image_cache_private.s3_cache_check_filenames(array[s3_cache_remove_file.filename]) as c;
    if checked.problem is not null then
      problem := checked.problem;
      return next;
      return;
    end if;
    delete from public.s3_image_cache as c where c.filename = checked.normalized
    returning c.filename into removed;
  end if;
  if removed is null then
    problem := 'it is not in the cache';
    return next;
    return;
  end if;
  insert into s3_image_cache_private.s3_cache_removals as r (filename, removed_at)
  values (removed, pg_catalog.clock_timestamp())
  on conflict (filename) do update set removed_at = excluded.removed_at;
  return next;
end;
$$;
revoke all on function public.s3_cache_remove_file(text) from public, anon, authenticated;
grant execute on function public.s3_cache_remove_file(text) to service_role;

-- Removes one file from the index, addressed as s3_cache_remove_file does (exactly as given,
-- else its stored form). Returns 'SUCCESS', or `Cannot remove file "<name>": ...` for an invalid
-- name or one that is not in the cache; never raises for bad input.
--   select remove_file_from_s3_cache('14000.jpg');
create or replace function public.remove_file_from_s3_cache(filename text)
returns text
language sql
volatile
security invoker
set search_path = ''
as $$
  select case
    when r.removed is not null then 'SUCCESS'
    else s3_image_cache_private.s3_cache_file_error('remove', $1, r.problem)
  end
  from public.s3_cache_remove_file($1) as r
$$;
revoke all on function public.remove_file_from_s3_cache(text) from public, anon, authenticated;
grant execute on function public.remove_file_from_s3_cache(text) to service_role;

-- Which of these names have an image? Each name finds the row named exactly so, else the row
-- under its stored form (NFC, extension lower-cased: `14000.JPG` finds `14000.jpg`), as the
-- other file functions address names; the row comes back under its own filename. One or two
-- unique-index probes per name; names not in the cache are simply absent from the result
-- (ordered by filename). At most 1,000 names per call.
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
    union
    select c.filename::text, c.size_bytes, c.etag, c.content_type, c.last_modified, c.width,
      c.height, c.updated_at
    from pg_catalog.unnest(lookup_s3_cache.filenames) as a (name)
    -- s3_image_cache_private.s3_cache_stored_form, spelled out: anon and authenticated call this
    -- function and may not use the private schema.
    cross join lateral (select pg_catalog.normalize(a.name, 'NFC') as nfc) as f
    join public.s3_image_cache as c on c.filename::text = case
      when pg_catalog.strpos(f.nfc, '.') = 0 then f.nfc
      else pg_catalog.left(f.nfc, -pg_catalog.length(pg_catalog.split_part(f.nfc, '.', -1)))
        || pg_catalog.translate(pg_catalog.split_part(f.nfc, '.', -1),
          'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
    end
    where not exists (select 1 from public.s3_image_cache as e where e.filename::text = a.name)
    order by 1;
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

