-- A rebuild's listing split into key ranges that several workers list at once.
--
-- Why this exists: real S3 answers a 1,000-key listing page in ~50–150 ms, so one listing stream
-- of a million keys waits 100 s or more before a rebuild can finish. ListObjectsV2 cannot list
-- pages of one stream in parallel (each page names the next), but it can start anywhere
-- (`StartAfter`). So once a job proves large, its remaining key space is cut into ranges, each
-- listed by its own stream from `StartAfter`, with its own position committed with each page and
-- its own lease, so several workers (and several streams inside one worker) list at once and
-- each range resumes alone after a crash.
--
-- What stays as it was: s3_cache_rebuild_pages (job-wide unique page numbers, taken under the
-- job row lock), and the job row's pages, listed and listing_complete (every range complete), so
-- s3_cache_rebuild_finish, _preview and the s3_cache_rebuild_listing view work unchanged. A job
-- that was never split (a small bucket, REBUILD_PARALLELISM=1, psql) is one implicit range driven
-- by s3_cache_rebuild_claim and s3_cache_rebuild_stage_page exactly as before.
--
-- A range covers the keys after `start_after` up to and including `up_to` (null: to the end of
-- the bucket). The end is inclusive so that a range's end is the next range's `start_after`:
-- S3's StartAfter excludes exactly that key, and the ranges tile the key space with no key in
-- two ranges and none in a gap. A range's position is `last_key`, the last key it staged: it is
-- what the next page is listed after (StartAfter), and, unlike S3's opaque continuation token,
-- it can be compared with the range's end and with a split point. Keys compare in byte order
-- (COLLATE "C"), S3's listing order.
--
-- Safe to run again: tables and columns with if not exists, every function and trigger created
-- here and nowhere else with create or replace.

set client_min_messages = warning;

-- One row per key range of a partitioned job. No foreign key: a trigger on s3_cache_rebuilds
-- deletes a job's ranges, as it does its pages. Kept after the job ends (a few rows a job; the
-- job row's `ranges` keeps the final counts too).
create table if not exists public.s3_cache_rebuild_ranges (
  job_id bigint not null,
  range integer not null,
  start_after text collate "C" not null,
  up_to text collate "C",
  last_key text collate "C",
  complete boolean not null default false,
  lease_owner text,
  lease_expires_at timestamptz,
  pages integer not null default 0,
  listed bigint not null default 0,
  primary key (job_id, range),
  constraint s3_cache_rebuild_ranges_order_check check (up_to is null or start_after < up_to)
);

comment on table public.s3_cache_rebuild_ranges is
  'Key ranges of a partitioned rebuild job: keys after start_after up to and including up_to '
  '(null: the end of the bucket), each listed by its own stream with its own lease.';
comment on column public.s3_cache_rebuild_ranges.last_key is
  'The last key staged for this range (null: none yet); the next page is listed after it.';

alter table public.s3_cache_rebuild_ranges enable row level security;
revoke all on table public.s3_cache_rebuild_ranges from anon, authenticated;
grant all on table public.s3_cache_rebuild_ranges to service_role;

-- Progress by range, on the job row itself so every answer that shows a job (to_jsonb of the
-- row: status, claim, stage, finish) carries it without another query: {"total": n, "done": m},
-- null while the job is listed in one stream.
alter table public.s3_cache_rebuilds add column if not exists ranges jsonb;
comment on column public.s3_cache_rebuilds.ranges is
  'Listed in key ranges: {"total": n, "done": m}; null when listed in one stream.';

create or replace function s3_image_cache_private.s3_cache_rebuild_ranges_cascade()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  delete from public.s3_cache_rebuild_ranges as g where g.job_id = old.id;
  return old;
end;
$$;
-- A trigger function: Postgres runs it without checking EXECUTE, so nobody needs the right.
revoke all on function s3_image_cache_private.s3_cache_rebuild_ranges_cascade() from public, anon, authenticated;

create or replace trigger s3_cache_rebuilds_delete_ranges
  after delete on public.s3_cache_rebuilds
  for each row execute function s3_image_cache_private.s3_cache_rebuild_ranges_cascade();

-- Locks a running job for a range operation, else raises as stage_page does: P0002 when there is
-- no such job, 55000 when it is not running. The job row is always locked before any range row,
-- by every function here, so two workers never wait on each other in opposite orders.
create or replace function s3_image_cache_private.s3_cache_rebuild_lock_for_ranges(
  job_id bigint,
  action text
)
returns public.s3_cache_rebuilds
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds;
begin
  select r.* into job
  from public.s3_cache_rebuilds as r
  where r.id = s3_cache_rebuild_lock_for_ranges.job_id
  for update;
  if job.id is null then
    raise exception using
      errcode = 'P0002',
      message = pg_catalog.format('Rebuild %s does not exist', s3_cache_rebuild_lock_for_ranges.job_id);
  end if;
  if job.status <> 'running' then
    raise exception using
      errcode = '55000',
      message = pg_catalog.format(
        'Cannot %s for rebuild %s: it is not running (status: %s)',
        s3_cache_rebuild_lock_for_ranges.action, job.id, job.status
      );
  end if;
  return job;
end;
$$;
revoke all on function s3_image_cache_private.s3_cache_rebuild_lock_for_ranges(bigint, text) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_rebuild_lock_for_ranges(bigint, text) to service_role;

-- Recounts a job's ranges into its row (total, done, and listing_complete when all are done) and
-- renews the job's lease for `worker`: while any worker works on any range the job is not
-- stalled, so the scheduler's and status call's "lease expired" test keeps meaning "nobody is
-- working on it". Returns the job.
create or replace function s3_image_cache_private.s3_cache_rebuild_ranges_touch(
  job_id bigint,
  worker text,
  lease_seconds integer,
  pages_added integer,
  listed_added bigint
)
returns public.s3_cache_rebuilds
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds;
  total integer;
  done integer;
begin
  select count(*), count(*) filter (where g.complete) into total, done
  from public.s3_cache_rebuild_ranges as g
  where g.job_id = s3_cache_rebuild_ranges_touch.job_id;
  -- Tells the guard trigger (below) that this update is a range function's.
  perform pg_catalog.set_config('s3_image_cache.ranges_write', 'on', true);
  update public.s3_cache_rebuilds as r set
    ranges = pg_catalog.jsonb_build_object('total', total, 'done', done),
    listing_complete = total > 0 and done = total,
    pages = r.pages + s3_cache_rebuild_ranges_touch.pages_added,
    listed = r.listed + s3_cache_rebuild_ranges_touch.listed_added,
    lease_owner = s3_cache_rebuild_ranges_touch.worker,
    lease_seconds = s3_cache_rebuild_ranges_touch.lease_seconds,
    lease_expires_at = pg_catalog.clock_timestamp()
      + pg_catalog.make_interval(secs => s3_cache_rebuild_ranges_touch.lease_seconds)
  where r.id = s3_cache_rebuild_ranges_touch.job_id
  returning r.* into job;
  perform pg_catalog.set_config('s3_image_cache.ranges_write', 'off', true);
  return job;
end;
$$;
revoke all on function s3_image_cache_private.s3_cache_rebuild_ranges_touch(bigint, text, integer, integer, bigint) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_rebuild_ranges_touch(bigint, text, integer, integer, bigint) to service_role;

-- A range as the worker reads it.
create or replace function s3_image_cache_private.s3_cache_rebuild_range_json(g public.s3_cache_rebuild_ranges)
returns jsonb
language sql
immutable
security invoker
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'range', g.range, 'start_after', g.start_after, 'up_to', g.up_to, 'last_key', g.last_key,
    'complete', g.complete, 'lease_owner', g.lease_owner, 'pages', g.pages, 'listed', g.listed
  )
$$;
revoke all on function s3_image_cache_private.s3_cache_rebuild_range_json(public.s3_cache_rebuild_ranges) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_rebuild_range_json(public.s3_cache_rebuild_ranges) to service_role;

-- Stages a page of a job listed in one stream so far and splits the rest of its key space into
-- ranges, in one transaction: the keys after `after_key` (the page's last key) up to
-- boundaries[1], then up to boundaries[2], …, and the keys after the last boundary to the end of
-- the bucket. Boundaries need not be keys (any strings in increasing byte order, all after
-- after_key); an empty array makes one range. The page is staged as s3_cache_rebuild_stage_page
-- stages it: refused (40001) unless `worker` holds the job's lease and the job's
-- continuation_token equals previous_token (NULL for the first page), so a retried or late call
-- cannot split a job twice or skip a page. From here on the job has no continuation token: each
-- range has its position. `listing` is a page in the format of s3_cache_rebuild_stage_page.
-- Returns the job.
--   select s3_cache_rebuild_partition(7, 'edge-3f2a', null,
--     E'1.jpg\t100\t"e1"\t1795442400000\n', '1.jpg', array['5', 'a']);
create or replace function public.s3_cache_rebuild_partition(
  job_id bigint,
  worker text,
  previous_token text,
  listing text,
  after_key text,
  boundaries text[]
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := s3_image_cache_private.s3_cache_rebuild_lock_for_ranges(
    s3_cache_rebuild_partition.job_id, 'split the listing'
  );
  page_listing text := coalesce(s3_cache_rebuild_partition.listing, '');
  line_count integer := pg_catalog.octet_length(page_listing)
    - pg_catalog.octet_length(pg_catalog.replace(page_listing, E'\n', ''));
  bounds text[] := coalesce(s3_cache_rebuild_partition.boundaries, '{}');
  refusal text;
begin
  refusal := case
    when job.lease_owner is distinct from s3_cache_rebuild_partition.worker then
      pg_catalog.format(
        'worker "%s" does not hold its lease (held by %s)', s3_cache_rebuild_partition.worker,
        coalesce('"' || job.lease_owner || '"', 'nobody')
      )
    when job.ranges is not null then 'its listing is already split into ranges'
    when job.listing_complete then 'its listing is already complete'
    when job.continuation_token is distinct from s3_cache_rebuild_partition.previous_token then
      pg_catalog.format(
        'the page follows %s but the job continues from %s',
        coalesce('token "' || s3_cache_rebuild_partition.previous_token || '"', 'the start'),
        coalesce('token "' || job.continuation_token || '"', 'the start')
      )
  end;
  if refusal is not null then
    raise exception using
      errcode = '40001',
      message = pg_catalog.format('Cannot split the listing of rebuild %s: %s', job.id, refusal);
  end if;
  if s3_cache_rebuild_partition.after_key is null
    or pg_catalog.array_position(bounds, null) is not null
    or exists (
      select 1
      from pg_catalog.unnest(bounds) with ordinality as b (key, n)
      where b.key collate "C" <= coalesce(
        bounds[b.n - 1], s3_cache_rebuild_partition.after_key
      ) collate "C"
    ) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot split the listing of rebuild %s: after_key must be given and the boundaries must '
        'follow it in increasing byte order', job.id
      );
  end if;
  if page_listing operator(pg_catalog.!~)
      E'^([^\t\n]*\t[^\t\n]*\t[^\t\n]*\t[^\t\n]*\n)*$' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot stage a page for rebuild %s: every line must hold 4 tab-separated fields and end with a newline',
        job.id
      );
  end if;

  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  if line_count > 0 then
    insert into public.s3_cache_rebuild_pages (job_id, page, listing)
    values (job.id, job.pages + 1, page_listing);
  end if;
  update public.s3_cache_rebuilds as r set continuation_token = null where r.id = job.id;
  insert into public.s3_cache_rebuild_ranges (job_id, range, start_after, up_to)
  select job.id, b.n::integer,
    case when b.n = 1 then s3_cache_rebuild_partition.after_key else bounds[b.n - 1] end,
    bounds[b.n]
  from pg_catalog.generate_series(1, pg_catalog.cardinality(bounds) + 1) as b (n);

  job := s3_image_cache_private.s3_cache_rebuild_ranges_touch(
    job.id, s3_cache_rebuild_partition.worker, job.lease_seconds, 1, line_count
  );
  return pg_catalog.to_jsonb(job);
end;
$$;
revoke all on function public.s3_cache_rebuild_partition(bigint, text, text, text, text, text[]) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_partition(bigint, text, text, text, text, text[]) to service_role;

-- Claims ranges of a running job for `worker`: renews the leases it holds and takes incomplete
-- ranges whose lease is free or expired, until it holds `max_ranges` (in range order). Several
-- workers claim at once without taking the same range (the job row lock orders them). Returns
-- {job, ranges: the ranges `worker` now holds, free: incomplete ranges nobody holds, workers:
-- live lease holders including `worker`, open: every incomplete range (what an idle worker may
-- split)}, or NULL when the job is not running. A job that is
-- not split into ranges is returned with ranges [] and left alone (claim it with
-- s3_cache_rebuild_claim).
--   select s3_cache_rebuild_claim_ranges(7, 'edge-3f2a', 60, 4);
create or replace function public.s3_cache_rebuild_claim_ranges(
  job_id bigint,
  worker text,
  lease_seconds integer default 60,
  max_ranges integer default 4
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds;
  at timestamptz := pg_catalog.clock_timestamp();
  held jsonb;
  open_ranges jsonb;
  free_count integer;
  worker_count integer;
begin
  if coalesce(pg_catalog.btrim(s3_cache_rebuild_claim_ranges.worker), '') = '' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot claim ranges of rebuild %s: the worker name is empty',
        s3_cache_rebuild_claim_ranges.job_id
      );
  end if;
  if s3_cache_rebuild_claim_ranges.lease_seconds is null
    or s3_cache_rebuild_claim_ranges.lease_seconds not between 1 and 3600
    or s3_cache_rebuild_claim_ranges.max_ranges is null
    or s3_cache_rebuild_claim_ranges.max_ranges not between 0 and 1000 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot claim ranges of rebuild %s: lease_seconds must be between 1 and 3600 and '
        'max_ranges between 0 and 1000',
        s3_cache_rebuild_claim_ranges.job_id
      );
  end if;

  select r.* into job
  from public.s3_cache_rebuilds as r
  where r.id = s3_cache_rebuild_claim_ranges.job_id
  for update;
  if job.id is null or job.status <> 'running' then
    return null;
  end if;
  if job.ranges is null then
    return pg_catalog.jsonb_build_object(
      'job', pg_catalog.to_jsonb(job), 'ranges', '[]'::jsonb, 'free', 0, 'workers', 0,
      'open', '[]'::jsonb
    );
  end if;

  -- A worker that holds more than it asks for now keeps the first ones and lets the rest go.
  update public.s3_cache_rebuild_ranges as g set lease_owner = null, lease_expires_at = null
  where g.job_id = job.id and g.lease_owner = s3_cache_rebuild_claim_ranges.worker
    and not g.complete
    and g.range not in (
      select h.range from public.s3_cache_rebuild_ranges as h
      where h.job_id = job.id and h.lease_owner = s3_cache_rebuild_claim_ranges.worker
        and not h.complete
      order by h.range
      limit s3_cache_rebuild_claim_ranges.max_ranges
    );

  update public.s3_cache_rebuild_ranges as g set
    lease_owner = s3_cache_rebuild_claim_ranges.worker,
    lease_expires_at = at + pg_catalog.make_interval(secs => s3_cache_rebuild_claim_ranges.lease_seconds)
  where g.job_id = job.id
    and g.range in (
      select h.range from public.s3_cache_rebuild_ranges as h
      where h.job_id = job.id and not h.complete
        and (
          h.lease_owner is null
          or h.lease_owner = s3_cache_rebuild_claim_ranges.worker
          or h.lease_expires_at is null
          or h.lease_expires_at <= at
        )
      order by (h.lease_owner is not distinct from s3_cache_rebuild_claim_ranges.worker) desc,
        h.range
      limit s3_cache_rebuild_claim_ranges.max_ranges
    );

  select
    coalesce(pg_catalog.jsonb_agg(
      s3_image_cache_private.s3_cache_rebuild_range_json(g) order by g.range
    ) filter (where g.lease_owner = s3_cache_rebuild_claim_ranges.worker), '[]'::jsonb),
    coalesce(pg_catalog.jsonb_agg(
      s3_image_cache_private.s3_cache_rebuild_range_json(g) order by g.range
    ), '[]'::jsonb),
    count(*) filter (
      where g.lease_owner is null or g.lease_expires_at is null or g.lease_expires_at <= at
    ),
    count(distinct g.lease_owner) filter (where g.lease_expires_at > at)
  into held, open_ranges, free_count, worker_count
  from public.s3_cache_rebuild_ranges as g
  where g.job_id = job.id and not g.complete;

  if pg_catalog.jsonb_array_length(held) > 0 then
    job := s3_image_cache_private.s3_cache_rebuild_ranges_touch(
      job.id, s3_cache_rebuild_claim_ranges.worker, s3_cache_rebuild_claim_ranges.lease_seconds,
      0, 0
    );
  end if;
  return pg_catalog.jsonb_build_object(
    'job', pg_catalog.to_jsonb(job), 'ranges', held, 'free', free_count, 'workers', worker_count,
    'open', open_ranges
  );
end;
$$;
revoke all on function public.s3_cache_rebuild_claim_ranges(bigint, text, integer, integer) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_claim_ranges(bigint, text, integer, integer) to service_role;

-- Stages one listing page of a range: the compare-and-set of s3_cache_rebuild_stage_page, on the
-- range. Refused (40001) unless the job runs, `worker` holds the range's lease, the range is not
-- complete, its last_key equals previous_key (null: nothing staged yet), and the page ends inside
-- the range (`last_key`, the page's last key, is after the range's position and not after its
-- end: a range split while the page was being listed refuses a page that crossed the new end,
-- and the worker trims it and stages it again). `last_key` NULL means the page held no key.
-- `complete`: the range has no key after this page (S3 said the listing ended, or listed a key
-- past the range's end). The page takes the next job-wide page number under the job row lock;
-- the job's pages, listed, ranges and listing_complete (every range complete) move with it.
-- Returns {job, range}.
--   select s3_cache_rebuild_stage_range_page(7, 2, 'edge-3f2a', null, '2.png', false,
--     E'2.png\t200\t"e2"\t1795442401000\n');
create or replace function public.s3_cache_rebuild_stage_range_page(
  job_id bigint,
  range integer,
  worker text,
  previous_key text,
  last_key text,
  complete boolean,
  listing text
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := s3_image_cache_private.s3_cache_rebuild_lock_for_ranges(
    s3_cache_rebuild_stage_range_page.job_id, 'stage a page'
  );
  target public.s3_cache_rebuild_ranges;
  refusal text;
  page_listing text := coalesce(s3_cache_rebuild_stage_range_page.listing, '');
  line_count integer := pg_catalog.octet_length(page_listing)
    - pg_catalog.octet_length(pg_catalog.replace(page_listing, E'\n', ''));
  new_key text collate "C" := s3_cache_rebuild_stage_range_page.last_key;
begin
  select g.* into target
  from public.s3_cache_rebuild_ranges as g
  where g.job_id = job.id and g.range = s3_cache_rebuild_stage_range_page.range
  for update;
  refusal := case
    when target.job_id is null then 'it has no such range'
    when target.lease_owner is distinct from s3_cache_rebuild_stage_range_page.worker then
      pg_catalog.format(
        'worker "%s" does not hold the lease of range %s (held by %s)',
        s3_cache_rebuild_stage_range_page.worker, target.range,
        coalesce('"' || target.lease_owner || '"', 'nobody')
      )
    when target.complete then pg_catalog.format('range %s is already complete', target.range)
    when target.last_key is distinct from s3_cache_rebuild_stage_range_page.previous_key then
      pg_catalog.format(
        'the page follows %s but range %s continues from %s', coalesce(
          'key "' || s3_cache_rebuild_stage_range_page.previous_key || '"', 'its start'
        ), target.range, coalesce('key "' || target.last_key || '"', 'its start')
      )
    when new_key is null and line_count > 0 then 'a page with keys must name its last key'
    when new_key is not null and new_key <= coalesce(target.last_key, target.start_after) then
      pg_catalog.format('the page ends at "%s", before the position of range %s', new_key, target.range)
    when new_key is not null and target.up_to is not null and new_key > target.up_to then
      pg_catalog.format(
        'the page ends at "%s", past the end of range %s ("%s")', new_key, target.range, target.up_to
      )
  end;
  if refusal is not null then
    raise exception using
      errcode = '40001',
      message = pg_catalog.format('Cannot stage a page for rebuild %s: %s', job.id, refusal);
  end if;
  if page_listing operator(pg_catalog.!~)
      E'^([^\t\n]*\t[^\t\n]*\t[^\t\n]*\t[^\t\n]*\n)*$' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot stage a page for rebuild %s: every line must hold 4 tab-separated fields and end with a newline',
        job.id
      );
  end if;

  -- As in s3_cache_rebuild_stage_page: the page and the range's position commit together.
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  if line_count > 0 then
    insert into public.s3_cache_rebuild_pages (job_id, page, listing)
    values (job.id, job.pages + 1, page_listing);
  end if;
  update public.s3_cache_rebuild_ranges as g set
    last_key = coalesce(new_key, g.last_key),
    complete = coalesce(s3_cache_rebuild_stage_range_page.complete, false),
    pages = g.pages + 1,
    listed = g.listed + line_count,
    lease_expires_at = pg_catalog.clock_timestamp()
      + pg_catalog.make_interval(secs => job.lease_seconds)
  where g.job_id = job.id and g.range = target.range
  returning g.* into target;

  job := s3_image_cache_private.s3_cache_rebuild_ranges_touch(
    job.id, s3_cache_rebuild_stage_range_page.worker, job.lease_seconds, 1, line_count
  );
  return pg_catalog.jsonb_build_object(
    'job', pg_catalog.to_jsonb(job),
    'range', s3_image_cache_private.s3_cache_rebuild_range_json(target)
  );
end;
$$;
revoke all on function public.s3_cache_rebuild_stage_range_page(bigint, integer, text, text, text, boolean, text) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_stage_range_page(bigint, integer, text, text, text, boolean, text) to service_role;

-- Splits an incomplete range at `at_key`: the range keeps the keys up to and including at_key, a
-- new range (the next free number) takes the ones after it up to the old end, leased to `worker`
-- (a worker with a free stream splits the busiest range, its own or another's). Refused (40001)
-- unless at_key lies after the range's position and before its end; the range's holder learns of
-- its new end when its next page is refused for crossing it. Returns {job, range: the new range}.
--   select s3_cache_rebuild_split_range(7, 3, 'edge-9c1d', 'bench-05', 60);
create or replace function public.s3_cache_rebuild_split_range(
  job_id bigint,
  range integer,
  worker text,
  at_key text,
  lease_seconds integer default 60
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := s3_image_cache_private.s3_cache_rebuild_lock_for_ranges(
    s3_cache_rebuild_split_range.job_id, 'split a range'
  );
  target public.s3_cache_rebuild_ranges;
  created public.s3_cache_rebuild_ranges;
  split_key text collate "C" := s3_cache_rebuild_split_range.at_key;
  refusal text;
begin
  if coalesce(pg_catalog.btrim(s3_cache_rebuild_split_range.worker), '') = ''
    or split_key is null
    or s3_cache_rebuild_split_range.lease_seconds is null
    or s3_cache_rebuild_split_range.lease_seconds not between 1 and 3600 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot split a range of rebuild %s: worker and at_key must be given and lease_seconds '
        'be between 1 and 3600', job.id
      );
  end if;
  select g.* into target
  from public.s3_cache_rebuild_ranges as g
  where g.job_id = job.id and g.range = s3_cache_rebuild_split_range.range
  for update;
  refusal := case
    when target.job_id is null then 'it has no such range'
    when target.complete then pg_catalog.format('range %s is already complete', target.range)
    when split_key <= coalesce(target.last_key, target.start_after) then
      pg_catalog.format('"%s" is not after the position of range %s', split_key, target.range)
    when target.up_to is not null and split_key >= target.up_to then
      pg_catalog.format('"%s" is not before the end of range %s', split_key, target.range)
  end;
  if refusal is not null then
    raise exception using
      errcode = '40001',
      message = pg_catalog.format('Cannot split a range of rebuild %s: %s', job.id, refusal);
  end if;

  insert into public.s3_cache_rebuild_ranges as g
    (job_id, range, start_after, up_to, lease_owner, lease_expires_at)
  select job.id, max(h.range) + 1, split_key, target.up_to,
    s3_cache_rebuild_split_range.worker,
    pg_catalog.clock_timestamp()
      + pg_catalog.make_interval(secs => s3_cache_rebuild_split_range.lease_seconds)
  from public.s3_cache_rebuild_ranges as h
  where h.job_id = job.id
  returning g.* into created;
  update public.s3_cache_rebuild_ranges as g set up_to = split_key
  where g.job_id = job.id and g.range = target.range;

  job := s3_image_cache_private.s3_cache_rebuild_ranges_touch(
    job.id, s3_cache_rebuild_split_range.worker, s3_cache_rebuild_split_range.lease_seconds, 0, 0
  );
  return pg_catalog.jsonb_build_object(
    'job', pg_catalog.to_jsonb(job),
    'range', s3_image_cache_private.s3_cache_rebuild_range_json(created)
  );
end;
$$;
revoke all on function public.s3_cache_rebuild_split_range(bigint, integer, text, text, integer) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_split_range(bigint, integer, text, text, integer) to service_role;

-- A job listed in ranges is staged range by range, never as one stream: its pages, listed keys,
-- listing_complete and continuation token move only through the functions above (which say so
-- for the length of their update), so s3_cache_rebuild_stage_page, called on such a job by
-- mistake, is refused and stages nothing (its page insert is undone with the statement). A
-- trigger rather than a new s3_cache_rebuild_stage_page, so the staging migration stays the
-- one definition of that function.
create or replace function s3_image_cache_private.s3_cache_rebuild_ranges_guard()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if (new.pages, new.listed, new.listing_complete, new.continuation_token)
      is distinct from (old.pages, old.listed, old.listing_complete, old.continuation_token)
    and coalesce(pg_catalog.current_setting('s3_image_cache.ranges_write', true), '') <> 'on' then
    raise exception using
      errcode = '40001',
      message = pg_catalog.format(
        'Cannot stage a page for rebuild %s: its listing is split into ranges (stage with '
        's3_cache_rebuild_stage_range_page)', new.id
      );
  end if;
  return new;
end;
$$;
-- A trigger function: Postgres runs it without checking EXECUTE, so nobody needs the right.
revoke all on function s3_image_cache_private.s3_cache_rebuild_ranges_guard() from public, anon, authenticated;

create or replace trigger s3_cache_rebuilds_ranges_guard
  before update on public.s3_cache_rebuilds
  for each row when (old.ranges is not null)
  execute function s3_image_cache_private.s3_cache_rebuild_ranges_guard();
