-- Applying a job: preview (what finish would change, changing nothing) and finish (apply the
-- difference in one transaction), with the two checks that can stop a finish: the staged pages
-- must hold the keys the job listed, and the mass-removal guard.
--
-- Why this exists: the original rebuild truncated the index and refilled it, so readers saw it
-- empty or half-built and a timeout left it broken. Here finish applies only the difference, in
-- one statement of one transaction (readers see the old index until commit, the new one after),
-- never touches rows written after the job started, and holds back a finish that would remove
-- more than half of the index, at once or over the runs of a day (a wrong bucket or a truncated
-- listing looks exactly like that), until an admin confirms it with force.
--
-- Safe to run again: every function is created here and nowhere else, with create or replace.

set client_min_messages = warning;

-- What finishing the job would change, without changing anything: counts and up to sample_limit
-- names of each kind (in byte order), and how many listed keys the naming rules refuse
-- (`skipped`). Rows written after the job started are left out: finish never touches them, nor
-- names removed since it started. Needs a running job whose listing is complete. (Finish's
-- mass-removal guard holds the job when to_remove is more than half of the index.)
--   select jsonb_pretty(s3_cache_rebuild_preview(7, 20));
create or replace function public.s3_cache_rebuild_preview(job_id bigint, sample_limit integer default 100)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
-- Whole-job set operations: hash joins always win, but the planner cannot see how many rows a
-- job's listing holds and would pick one index probe per listed key. Turning nested loops off
-- inflates the plan's cost past jit_above_cost, and JIT compiling then costs more than the whole
-- query (~250 ms of 450 ms at 100k keys), so JIT goes too; 64 MB keeps 100k-key hashes in memory.
set enable_nestloop = off
set jit = off
set work_mem = '64MB'
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := s3_image_cache_private.s3_cache_rebuild_lock_running(
    s3_cache_rebuild_preview.job_id, 'preview'
  );
  result jsonb;
begin
  if not job.listing_complete then
    raise exception using
      errcode = '55000',
      message = pg_catalog.format('Cannot preview rebuild %s: its listing is not complete', job.id);
  end if;
  if s3_cache_rebuild_preview.sample_limit is null
    or s3_cache_rebuild_preview.sample_limit not between 0 and 10000 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot preview rebuild %s: sample_limit must be between 0 and 10000, got %s',
        job.id, coalesce(s3_cache_rebuild_preview.sample_limit::text, 'null')
      );
  end if;

  with listed as materialized (
    select l.filename, l.size_bytes, l.etag, l.last_modified, l.action
    from public.s3_cache_rebuild_listing as l
    where l.job_id = job.id
  ),
  missing_from_index as (
    select distinct l.filename from listed as l where l.action = 'insert'
  ),
  changed as (
    select distinct l.filename from listed as l where l.action = 'update'
  ),
  missing_from_bucket as (
    select c.filename::text as filename from public.s3_image_cache as c
    where c.updated_at < job.started_at
      and not exists (
        select 1 from listed as l where l.filename = c.filename::text and l.action <> 'skip'
      )
  )
  select pg_catalog.jsonb_build_object(
    'job_id', job.id,
    'to_insert', (select count(*) from missing_from_index),
    'to_update', (select count(*) from changed),
    'to_remove', (select count(*) from missing_from_bucket),
    'skipped', (select count(distinct l.filename) from listed as l where l.action = 'skip'),
    'missing_from_index', coalesce((
      select pg_catalog.jsonb_agg(x.filename order by x.filename collate "C") from (
        select m.filename from missing_from_index as m
        order by m.filename collate "C" limit s3_cache_rebuild_preview.sample_limit
      ) as x
    ), '[]'::jsonb),
    'missing_from_bucket', coalesce((
      select pg_catalog.jsonb_agg(x.filename order by x.filename collate "C") from (
        select m.filename from missing_from_bucket as m
        order by m.filename collate "C" limit s3_cache_rebuild_preview.sample_limit
      ) as x
    ), '[]'::jsonb),
    'changed', coalesce((
      select pg_catalog.jsonb_agg(x.filename order by x.filename collate "C") from (
        select m.filename from changed as m
        order by m.filename collate "C" limit s3_cache_rebuild_preview.sample_limit
      ) as x
    ), '[]'::jsonb)
  ) into result;
  return result;
end;
$$;
revoke all on function public.s3_cache_rebuild_preview(bigint, integer) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_preview(bigint, integer) to service_role;

-- Applies a running job whose listing is complete, in one statement of one transaction (readers
-- see the old index until commit, the new one after; never an empty one):
--   * listed valid names that are new, or indexed with a different size/etag/last_modified,
--     are upserted (content_type from the extension; width/height cleared unless the etag, hence
--     the bytes, is unchanged); unchanged rows are not touched, so their updated_at stays;
--   * names the naming rules refuse are counted as `skipped` and left out;
--   * index rows the listing does not contain (with a valid name) are deleted;
--   * rows written since the job started (updated_at >= started_at) are neither overwritten nor
--     deleted: an upload during a rebuild is never lost; names removed since the job started
--     (remove_file_from_s3_cache) are not added back.
-- Then the job is marked succeeded with its counts, its lease released and its pages dropped.
--
-- Two checks can stop it, and then nothing in s3_image_cache changes and the pages are dropped:
--   * the staged pages must hold exactly the keys the job counted as listed (stage_page counts
--     them as it stores them; a mismatch means pages went missing or were written around it):
--     otherwise the job ends `failed`, naming both numbers;
--   * the guard, unless the job was started (or confirmed) with force — a wrong bucket, an empty
--     listing or a truncated one looks exactly like what it holds back:
--       rule 'this_run': the finish would remove more than half of the index (all of it
--       included): removed * 2 > index_count;
--       rule 'window': the finish removes something and would leave the index smaller than half
--       of the largest size it had in the last 24 hours (index_after * 2 < window_largest), so
--       removals cannot be stepped around the first rule a half at a time (158 → 79 → 40).
--       The sizes are those
--       recorded by the finishes of that window (summary.index_before/index_after; before counts
--       but for a forced job) and the index now; a forced finish resets the window (nothing
--       before it counts, only the size it left).
--     The job ends `needs_confirmation` with summary.guard = {rule, index_count, index_after,
--     would_insert, would_update, would_remove, removed_samples (the first names, in byte
--     order), window_hours, window_largest, window_largest_at} and an error sentence naming
--     the rule's numbers; an admin reads them and starts a job with force.
-- Every finish that reaches the guard records summary.index_before (and, when applied,
-- summary.index_after): the sizes the window rule reads.
-- Either way it returns the job row, so callers read `status` (succeeded, failed or
-- needs_confirmation). The job row lock makes a second concurrent finish wait and then refuse.
-- Same for 'reconcile'.
--   select s3_cache_rebuild_finish(7);
create or replace function public.s3_cache_rebuild_finish(job_id bigint)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
-- The same settings as preview, for the same reasons.
set enable_nestloop = off
set jit = off
set work_mem = '64MB'
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := s3_image_cache_private.s3_cache_rebuild_lock_running(
    s3_cache_rebuild_finish.job_id, 'finish'
  );
  staged_keys bigint;
  last_page integer;
  index_count bigint;
  inserted_count bigint;
  updated_count bigint;
  removed_count bigint;
  skipped_count bigint;
  removed_samples jsonb;
  index_after bigint;
  window_hours constant integer := 24;
  window_largest bigint;
  window_largest_at timestamptz;
  held_by text;
begin
  if not job.listing_complete then
    raise exception using
      errcode = '55000',
      message = pg_catalog.format('Cannot finish rebuild %s: its listing is not complete', job.id);
  end if;

  -- Keys counted by byte arithmetic, as stage_page does (a newline is one byte in UTF-8).
  select
    coalesce(sum(pg_catalog.octet_length(p.listing)
      - pg_catalog.octet_length(pg_catalog.replace(p.listing, E'\n', ''))), 0),
    coalesce(max(p.page), 0)
  into staged_keys, last_page
  from public.s3_cache_rebuild_pages as p
  where p.job_id = job.id;
  if staged_keys <> job.listed or last_page > job.pages then
    return public.s3_cache_rebuild_fail(job.id, pg_catalog.format(
      'Cannot finish rebuild %s: its staged pages hold %s keys (up to page %s) but it listed %s '
      'keys in %s pages; nothing was applied',
      job.id, staged_keys, last_page, job.listed, job.pages
    ));
  end if;

  select count(*) into index_count from public.s3_image_cache;

  -- The largest size the index had in the window: sizes recorded by finishes since the later of
  -- window_hours ago and the last forced finish (whose size before does not count: it was
  -- confirmed away), and the size now.
  select o.size, o.at into window_largest, window_largest_at
  from (
    select pg_catalog.max(r.finished_at) as at
    from public.s3_cache_rebuilds as r
    where r.force and r.status = 'succeeded'
  ) as reset
  cross join lateral (
    select (r.summary ->> 'index_before')::bigint as size, r.finished_at as at
    from public.s3_cache_rebuilds as r
    where not r.force
      and r.finished_at >= pg_catalog.clock_timestamp() - pg_catalog.make_interval(hours => window_hours)
      and r.finished_at >= coalesce(reset.at, '-infinity')
      and r.summary ? 'index_before'
    union all
    select (r.summary ->> 'index_after')::bigint, r.finished_at
    from public.s3_cache_rebuilds as r
    where r.finished_at >= pg_catalog.clock_timestamp() - pg_catalog.make_interval(hours => window_hours)
      and r.finished_at >= coalesce(reset.at, '-infinity')
      and r.summary ? 'index_after'
    union all
    select index_count, pg_catalog.clock_timestamp()
  ) as o
  order by o.size desc, o.at
  limit 1;

  -- Applied in a block of its own so the guard can undo it: computing the counts first would
  -- read the whole listing twice on every finish, to catch the rare one that must not apply.
  begin
    -- One statement, so the listing is read once. The upsert and the delete touch disjoint rows
    -- (listed and not listed), and both re-check updated_at on the row's latest version.
    with listed as materialized (
      select l.filename, l.size_bytes, l.etag, l.last_modified, l.action
      from public.s3_cache_rebuild_listing as l
      where l.job_id = job.id
    ),
    upserted as (
      insert into public.s3_image_cache as c
        (filename, size_bytes, etag, content_type, last_modified, width, height)
      select distinct on (k.filename)
        k.filename, k.size_bytes, k.etag, public.s3_cache_content_type_for(k.filename),
        k.last_modified, null::integer, null::integer
      from listed as k
      where k.action in ('insert', 'update')
      order by k.filename
      on conflict (filename) do update set
        size_bytes = excluded.size_bytes,
        etag = excluded.etag,
        content_type = excluded.content_type,
        last_modified = excluded.last_modified,
        width = case when c.etag = excluded.etag then c.width end,
        height = case when c.etag = excluded.etag then c.height end
      -- Re-checked on the row's latest version: a write committed meanwhile wins.
      where c.updated_at < job.started_at
      returning (c.xmax = 0) as is_new
    ),
    removed as (
      delete from public.s3_image_cache as c
      where c.updated_at < job.started_at
        and not exists (
          select 1 from listed as l where l.filename = c.filename::text and l.action <> 'skip'
        )
      returning c.filename::text as filename
    )
    select
      (select count(*) filter (where u.is_new) from upserted as u),
      (select count(*) filter (where not u.is_new) from upserted as u),
      (select count(*) from removed),
      (select count(distinct l.filename) from listed as l where l.action = 'skip'),
      (select coalesce(pg_catalog.jsonb_agg(x.filename order by x.filename collate "C"), '[]'::jsonb)
       from (select r.filename from removed as r order by r.filename collate "C" limit 20) as x)
    into inserted_count, updated_count, removed_count, skipped_count, removed_samples;

    index_after := index_count + inserted_count - removed_count;
    held_by := case
      when job.force then null
      when removed_count * 2 > index_count then 'this_run'
      -- Only a finish that removes something is held: one that removes nothing cannot be what
      -- brings the index down (rows deleted by hand already did).
      when removed_count > 0 and index_after * 2 < window_largest then 'window'
    end;
    if held_by is not null then
      raise exception using errcode = 'S3G01', message = 'held by the mass-removal guard';
    end if;
  exception when sqlstate 'S3G01' then
    -- Everything the block wrote is rolled back; the counts it computed are kept.
    delete from public.s3_cache_rebuild_pages as p where p.job_id = job.id;
    update public.s3_cache_rebuilds as r set
      status = 'needs_confirmation',
      finished_at = pg_catalog.clock_timestamp(),
      skipped = skipped_count,
      error = case held_by
        when 'this_run' then pg_catalog.format(
          'Not applied: it would remove %s of the %s images in the index; start it again with force '
          'to apply', removed_count, index_count)
        else pg_catalog.format(
          'Not applied: it would leave %s images, fewer than half of the %s the index held at %s '
          '(its largest in the last %s hours); start it again with force to apply',
          index_after, window_largest,
          pg_catalog.to_char(window_largest_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
          window_hours)
      end,
      summary = coalesce(r.summary, '{}'::jsonb) || pg_catalog.jsonb_build_object(
        'index_before', index_count,
        'guard', pg_catalog.jsonb_build_object(
          'rule', held_by,
          'index_count', index_count,
          'index_after', index_after,
          'would_insert', inserted_count,
          'would_update', updated_count,
          'would_remove', removed_count,
          'removed_samples', removed_samples,
          'window_hours', window_hours,
          'window_largest', window_largest,
          'window_largest_at', window_largest_at
        )),
      lease_owner = null,
      lease_expires_at = null
    where r.id = job.id
    returning r.* into job;
    return pg_catalog.to_jsonb(job);
  end;

  delete from public.s3_cache_rebuild_pages as p where p.job_id = job.id;

  update public.s3_cache_rebuilds as r set
    status = 'succeeded',
    finished_at = pg_catalog.clock_timestamp(),
    inserted = inserted_count,
    updated = updated_count,
    removed = removed_count,
    skipped = skipped_count,
    summary = coalesce(r.summary, '{}'::jsonb) || pg_catalog.jsonb_build_object(
      'index_before', index_count, 'index_after', index_after),
    lease_owner = null,
    lease_expires_at = null
  where r.id = job.id
  returning r.* into job;
  return pg_catalog.to_jsonb(job);
end;
$$;
revoke all on function public.s3_cache_rebuild_finish(bigint) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_finish(bigint) to service_role;

