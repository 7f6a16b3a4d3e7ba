-- The rebuild's finish and preview read every staged name through one inlined function whose
-- fast checks accept any printable ASCII name the rules accept, not only letters, digits and
-- `._ -`.
--
-- Why this exists: the fast checks of ..._rebuild_finish_scale.sql sent every other name (an `&`,
-- a `+`, parentheses, a comma: common in product names) to s3_cache_filename_problem, which costs
-- ~300 µs a call (normalize, five regular expressions and a set-returning function per name), and
-- one refused name on a page sent the whole page the per-name way. A rebuild of 100,000
-- synthetic product names (10% `A&B-…`, one refused name every ~250 products: the scale
-- benchmark's key space) spent 3.2 s in finish against 0.38 s for plain names, and at 1M about
-- 30 s, most of the rebuild's time.
--
-- The rules for a name of printable ASCII (U+0020-U+007E) alone come down to: no `/` or `\`, no
-- `..`, not starting with `.` or a space, at most 255 characters, an image extension (which also
-- keeps a space off the end); control, invisible, bidirectional and non-ASCII characters, the
-- script mixing and NFC cannot occur in it. s3_cache_rebuild_plain_name says exactly that, as one
-- regular expression; any other name still goes the long way. 16_names_fast.test.sql checks it
-- against s3_cache_filename_problem for every printable ASCII character at the start, middle and
-- end of a name, doubled, and next to a dot.
--
-- Inlining: the listing is read by a SQL function the planner inlines into the two statements
-- (a set-returning LANGUAGE sql function with no SET clause), so they plan as before and the
-- read is written once; for the same reason these functions carry no search_path setting and
-- name every object, function and operator with its schema.
--
-- Safe to run again: every function with create or replace.

set client_min_messages = warning;

-- Whether a name of printable ASCII passes the naming rules, by one regular expression: false
-- means "not known here", and the caller asks s3_cache_filename_problem.
create or replace function s3_image_cache_private.s3_cache_rebuild_plain_name(filename text)
returns boolean
language sql
immutable
parallel safe
security invoker
as $$
  select pg_catalog.char_length($1) <= 255
    and $1 operator(pg_catalog.~)
      '^[\x21-\x2d\x30-\x5b\x5d-\x7e](?:[\x20-\x2d\x30-\x5b\x5d-\x7e]|\.[\x20-\x2d\x30-\x5b\x5d-\x7e])*\.(?:[jJ][pP][eE]?[gG]|[pP][nN][gG]|[wW][eE][bB][pP]|[gG][iI][fF]|[aA][vV][iI][fF])$'
$$;
revoke all on function s3_image_cache_private.s3_cache_rebuild_plain_name(text) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_rebuild_plain_name(text) to service_role;

-- A staged job's listing, one row a key: the name, its size, ETag and time, and whether the
-- naming rules accept it. Inlined into preview and finish (see the top of this file).
create or replace function s3_image_cache_private.s3_cache_rebuild_listed(job_id bigint)
returns table (filename text, size_bytes bigint, etag text, last_modified timestamptz, valid boolean)
language sql
stable
parallel safe
security invoker
as $$
  select l.filename, l.size_bytes, l.etag, l.last_modified,
    case
      when v.names_plain and pg_catalog.char_length(l.filename) <= 255 then true
      when s3_image_cache_private.s3_cache_rebuild_plain_name(l.filename) then true
      else public.s3_cache_filename_problem(l.filename) is null
    end as valid
  from public.s3_cache_rebuild_pages as p
  -- Most pages hold names the fast check accepts only: one regular expression over the whole page
  -- (~0.2 ms) proves every name on it passes that check, which costs ~0.6 µs a name (0.6 s at
  -- 1M). Each line's first field (up to its tab) is matched as s3_cache_rebuild_plain_name
  -- matches a name. A page with any other name checks each name on its own.
  cross join lateral (
    select p.listing
      operator(pg_catalog.~) '^(?:[\x21-\x2d\x30-\x5b\x5d-\x7e](?:[\x20-\x2d\x30-\x5b\x5d-\x7e]|\.[\x20-\x2d\x30-\x5b\x5d-\x7e])*\.(?:[jJ][pP][eE]?[gG]|[pP][nN][gG]|[wW][eE][bB][pP]|[gG][iI][fF]|[aA][vV][iI][fF])\t[^\n]*\n)*$'
      as names_plain
    offset 0
  ) as v
  cross join lateral pg_catalog.string_to_table(p.listing, E'\n') as t (line)
  cross join lateral (
    select
      pg_catalog.split_part(t.line, E'\t', 1) as filename,
      nullif(pg_catalog.split_part(t.line, E'\t', 2), '')::bigint as size_bytes,
      nullif(pg_catalog.split_part(t.line, E'\t', 3), '') as etag,
      pg_catalog.to_timestamp(nullif(pg_catalog.split_part(t.line, E'\t', 4), '')::float8 / 1000)
        as last_modified
    offset 0
  ) as l
  where p.job_id = $1 and t.line operator(pg_catalog.<>) ''
  -- Each line parsed and checked once: the join's key, the CASE and the filter of the caller read
  -- these columns, not copies of the expressions.
  offset 0
$$;
revoke all on function s3_image_cache_private.s3_cache_rebuild_listed(bigint) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_rebuild_listed(bigint) to service_role;

-- What finishing the job would change, without changing anything: as documented in
-- ..._rebuild_apply.sql (counts, up to sample_limit names of each kind in byte order, `skipped`).
-- The listing is read as finish reads it below; the two statements are kept in step.
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
-- A row or the job locked by a long transaction fails the call with 55P03 after 10 s instead of
-- holding it past the edge function's wall (a statement_timeout set here would not apply).
set lock_timeout = '10s'
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

  with listed as (
    -- The staged listing parsed, each name checked (s3_cache_rebuild_listed, inlined).
    select * from s3_image_cache_private.s3_cache_rebuild_listed(job.id)
  ),
  changes as materialized (
    select
      coalesce(l.filename, c.filename::text) as filename,
      l.size_bytes, l.etag, l.last_modified,
      case
        when l.filename is null then null
        when not l.valid then 'skip'
        when c.id is null then
          case when exists (
            select 1 from s3_image_cache_private.s3_cache_removals as d
            where d.filename = l.filename and d.removed_at >= job.started_at
          ) then 'removed' else 'insert' end
        else 'update'
      end as action,
      case
        when (l.filename is null or not l.valid) and c.updated_at < job.started_at then c.id
      end as remove_id
    from listed as l
    full join public.s3_image_cache as c on c.filename::text = l.filename
    where (l.filename is null and c.updated_at < job.started_at)
      or not l.valid
      or c.id is null
      or (c.updated_at < job.started_at
        and (c.size_bytes, c.etag, c.last_modified)
          is distinct from (l.size_bytes, l.etag, l.last_modified))
  ),
  missing_from_index as (
    select distinct k.filename from changes as k where k.action = 'insert'
  ),
  changed as (
    select distinct k.filename from changes as k where k.action = 'update'
  ),
  missing_from_bucket as (
    select distinct k.filename from changes as k where k.remove_id is not null
  )
  select pg_catalog.jsonb_build_object(
    'job_id', job.id,
    'to_insert', (select count(*) from missing_from_index),
    'to_update', (select count(*) from changed),
    'to_remove', (select count(*) from missing_from_bucket),
    'skipped', (select count(distinct k.filename) from changes as k where k.action = 'skip'),
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

-- Applies a running job whose listing is complete, in one statement of one transaction, with the
-- staged-count check and the mass-removal guard: everything ..._rebuild_apply.sql documents holds
-- (rows written since the job started are neither overwritten nor deleted, names removed since
-- it started are not added back, unchanged rows are not touched). What changed is how the listing
-- is read: `changes` holds only the rows finish acts on, found by one hash full join of the
-- listing with the index:
--   * a listed name the rules refuse: `skip` (counted), and its index row, if old, is removed;
--   * a listed valid name not in the index: `insert` (`removed` when deleted since the start);
--   * a listed valid name whose old row differs in size, etag or last_modified: `update`;
--   * an old index row no listed valid name matches: removed (remove_id).
-- Unchanged rows (99% of a large index) go no further than the join.
--   select s3_cache_rebuild_finish(7);
create or replace function public.s3_cache_rebuild_finish(job_id bigint)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
-- The same settings as preview, for the same reasons. The hash of a 1M-row index takes ~100 MB,
-- inside work_mem times hash_mem_multiplier (2 by default since Postgres 15); a larger index
-- spills to batches on disk and gets slower, not wrong.
set enable_nestloop = off
set jit = off
set work_mem = '64MB'
set lock_timeout = '10s'
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
    with listed as (
      -- The staged listing parsed, each name checked (s3_cache_rebuild_listed, inlined).
      select * from s3_image_cache_private.s3_cache_rebuild_listed(job.id)
    ),
    changes as materialized (
      select
        coalesce(l.filename, c.filename::text) as filename,
        l.size_bytes, l.etag, l.last_modified,
        case
          when l.filename is null then null
          when not l.valid then 'skip'
          when c.id is null then
            case when exists (
              select 1 from s3_image_cache_private.s3_cache_removals as d
              where d.filename = l.filename and d.removed_at >= job.started_at
            ) then 'removed' else 'insert' end
          else 'update'
        end as action,
        case
          when (l.filename is null or not l.valid) and c.updated_at < job.started_at then c.id
        end as remove_id
      from listed as l
      full join public.s3_image_cache as c on c.filename::text = l.filename
      where (l.filename is null and c.updated_at < job.started_at)
        or not l.valid
        or c.id is null
        or (c.updated_at < job.started_at
          and (c.size_bytes, c.etag, c.last_modified)
            is distinct from (l.size_bytes, l.etag, l.last_modified))
    ),
    upserted as (
      insert into public.s3_image_cache as c
        (filename, size_bytes, etag, content_type, last_modified, width, height)
      select distinct on (k.filename)
        k.filename, k.size_bytes, k.etag, public.s3_cache_content_type_for(k.filename),
        k.last_modified, null::integer, null::integer
      from changes as k
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
      -- By id, through the primary key: a handful of index probes instead of a pass over the
      -- index; updated_at is re-checked on the row's latest version, as above.
      delete from public.s3_image_cache as c
      where c.id = any (array(select k.remove_id from changes as k where k.remove_id is not null))
        and c.updated_at < job.started_at
      returning c.filename::text as filename
    )
    select
      (select count(*) filter (where u.is_new) from upserted as u),
      (select count(*) filter (where not u.is_new) from upserted as u),
      (select count(*) from removed),
      (select count(distinct k.filename) from changes as k where k.action = 'skip'),
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
