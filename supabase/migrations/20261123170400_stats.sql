-- The counters the admin UI's dashboard shows: how many images the index holds and how big they
-- are, the newest ones, a breakdown by type, and the last and the running job.
--
-- Why this exists: the dashboard asks one question and should get one answer from one snapshot,
-- rather than five queries that may each see a different moment of a running rebuild.
--
-- Safe to run again: the function is created here and nowhere else, with create or replace.

set client_min_messages = warning;

-- Counters for the admin UI: {count, total_bytes, newest: {filename, updated_at} | null,
-- last_rebuild: {...} | null (latest ended job), running_rebuild: {...} | null}.
--   select jsonb_pretty(s3_cache_stats());
create or replace function public.s3_cache_stats()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  with totals as (
    select count(*) as n, coalesce(sum(c.size_bytes), 0) as bytes from public.s3_image_cache as c
  ),
  newest as (
    select c.filename, c.updated_at, c.size_bytes, c.content_type, c.width, c.height
    from public.s3_image_cache as c
    order by c.updated_at desc, c.id desc
    limit 5
  ),
  by_type as (
    select coalesce(c.content_type, 'unknown') as content_type, count(*) as n,
      coalesce(sum(c.size_bytes), 0) as bytes
    from public.s3_image_cache as c
    group by 1
  ),
  jobs as (
    select
      r.status = 'running' as is_running,
      r.id,
      pg_catalog.jsonb_build_object(
        'id', r.id, 'mode', r.mode, 'status', r.status, 'started_by', r.started_by,
        'started_at', r.started_at, 'finished_at', r.finished_at,
        'pages', r.pages, 'listing_complete', r.listing_complete,
        'listed', r.listed, 'skipped', r.skipped, 'inserted', r.inserted,
        'updated', r.updated, 'removed', r.removed, 'error', r.error
      ) as summary
    from public.s3_cache_rebuilds as r
  )
  select pg_catalog.jsonb_build_object(
    'count', t.n,
    'total_bytes', t.bytes,
    'newest', (
      select pg_catalog.jsonb_build_object('filename', w.filename, 'updated_at', w.updated_at)
      from newest as w order by w.updated_at desc limit 1
    ),
    'newest_images', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'filename', w.filename, 'updated_at', w.updated_at, 'size_bytes', w.size_bytes,
        'content_type', w.content_type, 'width', w.width, 'height', w.height
      ) order by w.updated_at desc)
      from newest as w
    ), '[]'::jsonb),
    'by_type', coalesce((
      select pg_catalog.jsonb_object_agg(b.content_type,
        pg_catalog.jsonb_build_object('count', b.n, 'bytes', b.bytes))
      from by_type as b
    ), '{}'::jsonb),
    'last_rebuild', (
      select j.summary from jobs as j where not j.is_running order by j.id desc limit 1
    ),
    'running_rebuild', (select j.summary from jobs as j where j.is_running limit 1)
  )
  from totals as t
$$;
revoke all on function public.s3_cache_stats() from public, anon, authenticated;
grant execute on function public.s3_cache_stats() to service_role;

