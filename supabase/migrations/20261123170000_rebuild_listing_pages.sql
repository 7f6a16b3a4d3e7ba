-- Rebuild staging, second form: a running job keeps its bucket listing as the pages S3 returned,
-- one row per page, and finish (or preview) reads them as rows in one set-based pass.
--
-- Why: staging is the loop every key of the bucket passes through, page by page, one transaction
-- each. Inserting 1,000 typed rows per page, parsing typed arrays and proving each name valid
-- cost ~5-7 ms a page (~150k keys/s); appending the page as one text value costs ~1.5 ms. The
-- per-key work moves to finish, where it is done once, in one set-based statement.
--
-- Safe to run again: every statement is idempotent.

-------------------------------------------------------------------------------------------------
-- The pages table
-------------------------------------------------------------------------------------------------

-- One row per staged page. Logged on purpose: a resumed job must never lose a page it committed.
-- No foreign key (the cascade trigger on s3_cache_rebuilds deletes a job's pages); the primary key
-- is cheap here, one entry per 1,000 keys.
create table if not exists public.s3_cache_rebuild_pages (
  job_id bigint not null,
  page integer not null,
  -- The page in the line format described on s3_cache_rebuild_stage_page.
  listing text not null,
  primary key (job_id, page)
);

-- pglz would cost ~2 ms per 80 kB page, more than the whole append. lz4 (when the server has it)
-- compresses a page 3:1 in ~0.1 ms and so writes fewer TOAST chunks than no compression at all;
-- without lz4 the pages are stored out of line, uncompressed.
do $$
begin
  if exists (
    select 1 from pg_catalog.pg_settings
    where name = 'default_toast_compression' and 'lz4' = any (enumvals)
  ) then
    alter table public.s3_cache_rebuild_pages alter column listing set storage extended;
    alter table public.s3_cache_rebuild_pages alter column listing set compression lz4;
  else
    alter table public.s3_cache_rebuild_pages alter column listing set storage external;
  end if;
end
$$;

comment on table public.s3_cache_rebuild_pages is
  'Bucket listing of a running rebuild job, one row per ListObjectsV2 page; emptied when the job ends.';

alter table public.s3_cache_rebuild_pages enable row level security;
revoke all on table public.s3_cache_rebuild_pages from anon, authenticated;
grant all on table public.s3_cache_rebuild_pages to service_role;
-- RLS on and no policy: only service_role (bypassrls) and the owner see it.

-- What `on delete cascade` would do, for the rare job a DBA deletes by hand.
create or replace function public.s3_cache_rebuild_staging_cascade()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  delete from public.s3_cache_rebuild_pages as p where p.job_id = old.id;
  return old;
end;
$$;

-- The row-per-key staging table of the first form is gone; nothing reads it any more.
drop table if exists public.s3_cache_rebuild_staging;

-------------------------------------------------------------------------------------------------
-- Staging a page
-------------------------------------------------------------------------------------------------

-- Stages one listing page (compare-and-set on the continuation token) and advances the job. The
-- page is refused (40001) unless the job is running, `worker` holds its lease, its listing is not
-- complete and its continuation_token equals previous_token, so a retried or out-of-order page can
-- never be counted twice. next_token NULL means the listing is complete. Returns the job.
--
-- `listing` holds one line per listed key, each ended by a newline: key, size in bytes, ETag and
-- LastModified in milliseconds since the Unix epoch (a decimal number; what JavaScript's
-- Date.getTime() gives, ~30x cheaper to write than an ISO date), separated by tabs; an empty field
-- is NULL. This is COPY's text format, so a key's backslash, tab, newline and carriage return
-- are written \\, \t, \n and \r: the line framing holds, and the key still contains a character
-- the naming rules refuse, so it is counted as skipped without being decoded. The page is stored
-- as it is; finish validates the names and counts `skipped`. An empty listing stages no key.
--   select s3_cache_rebuild_stage_page(7, 'edge-3f2a', null, 'token-2',
--     E'1.jpg\t100\t"e1"\t1795442400000\n2.png\t200\t"e2"\t1795442401000\n');
create or replace function public.s3_cache_rebuild_stage_page(
  job_id bigint,
  worker text,
  previous_token text,
  next_token text,
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
  job public.s3_cache_rebuilds;
  refusal text;
  page_listing text := coalesce(s3_cache_rebuild_stage_page.listing, '');
  -- Lines counted by byte arithmetic (a newline is one byte in UTF-8): ~70 µs a page.
  line_count integer := pg_catalog.octet_length(page_listing)
    - pg_catalog.octet_length(pg_catalog.replace(page_listing, E'\n', ''));
begin
  select r.* into job
  from public.s3_cache_rebuilds as r
  where r.id = s3_cache_rebuild_stage_page.job_id
  for update;
  if job.id is null then
    raise exception using
      errcode = 'P0002',
      message = pg_catalog.format('Rebuild %s does not exist', s3_cache_rebuild_stage_page.job_id);
  end if;
  if job.status <> 'running' then
    raise exception using
      errcode = '55000',
      message = pg_catalog.format(
        'Cannot stage a page for rebuild %s: it is not running (status: %s)', job.id, job.status
      );
  end if;

  refusal := case
    when job.lease_owner is distinct from s3_cache_rebuild_stage_page.worker then
      pg_catalog.format(
        'worker "%s" does not hold its lease (held by %s)',
        s3_cache_rebuild_stage_page.worker,
        coalesce('"' || job.lease_owner || '"', 'nobody')
      )
    when job.listing_complete then 'its listing is already complete'
    when job.continuation_token is distinct from s3_cache_rebuild_stage_page.previous_token then
      pg_catalog.format(
        'the page follows %s but the job continues from %s',
        coalesce('token "' || s3_cache_rebuild_stage_page.previous_token || '"', 'the start'),
        coalesce('token "' || job.continuation_token || '"', 'the start')
      )
  end;
  if refusal is not null then
    raise exception using
      errcode = '40001',
      message = pg_catalog.format('Cannot stage a page for rebuild %s: %s', job.id, refusal);
  end if;

  -- The framing, checked now (~0.2 ms a page) so a malformed page is refused here rather than
  -- failing finish after the whole bucket was listed. Field contents (numbers) are read by finish.
  if page_listing operator(pg_catalog.!~)
      E'^([^\t\n]*\t[^\t\n]*\t[^\t\n]*\t[^\t\n]*\n)*$' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot stage a page for rebuild %s: every line must hold 4 tab-separated fields and end with a newline',
        job.id
      );
  end if;

  -- This transaction commits without waiting for its WAL flush (~0.7 ms of ~2.4 ms a page). Safe
  -- because the page and the continuation token commit together: a crash can only lose the last
  -- pages as a whole, token included, and the resumed job lists them again from the token that
  -- did reach disk. Local to this transaction; the worker calls stage_page in its own.
  perform pg_catalog.set_config('synchronous_commit', 'off', true);

  if line_count > 0 then
    insert into public.s3_cache_rebuild_pages (job_id, page, listing)
    values (job.id, job.pages + 1, page_listing);
  end if;

  update public.s3_cache_rebuilds as r set
    continuation_token = s3_cache_rebuild_stage_page.next_token,
    listing_complete = s3_cache_rebuild_stage_page.next_token is null,
    pages = r.pages + 1,
    listed = r.listed + line_count,
    lease_expires_at = pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => r.lease_seconds)
  where r.id = job.id
  returning r.* into job;
  return pg_catalog.to_jsonb(job);
end;
$$;

-- The same with one array per column, for psql and tests: builds the listing text (escaping the
-- names as COPY does) and stages it through the form above. The arrays must have equal lengths.
--   select s3_cache_rebuild_stage_page(7, 'edge-3f2a', null, 'token-2',
--     array['1.jpg', '2.png'], array[100, 200]::bigint[], array['"e1"', '"e2"'],
--     array[now(), now()]);
create or replace function public.s3_cache_rebuild_stage_page(
  job_id bigint,
  worker text,
  previous_token text,
  next_token text,
  filenames text[],
  sizes bigint[],
  etags text[],
  last_modifieds timestamptz[]
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  name_count integer := coalesce(pg_catalog.cardinality(s3_cache_rebuild_stage_page.filenames), 0);
  refusal text;
  page_listing text;
begin
  refusal := case
    when coalesce(pg_catalog.cardinality(s3_cache_rebuild_stage_page.sizes), 0) <> name_count then
      pg_catalog.format('sizes has %s entries for %s names',
        coalesce(pg_catalog.cardinality(s3_cache_rebuild_stage_page.sizes), 0), name_count)
    when coalesce(pg_catalog.cardinality(s3_cache_rebuild_stage_page.etags), 0) <> name_count then
      pg_catalog.format('etags has %s entries for %s names',
        coalesce(pg_catalog.cardinality(s3_cache_rebuild_stage_page.etags), 0), name_count)
    when coalesce(pg_catalog.cardinality(s3_cache_rebuild_stage_page.last_modifieds), 0)
        <> name_count then
      pg_catalog.format('last_modifieds has %s entries for %s names',
        coalesce(pg_catalog.cardinality(s3_cache_rebuild_stage_page.last_modifieds), 0), name_count)
  end;
  if refusal is not null then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot stage a page for rebuild %s: %s', s3_cache_rebuild_stage_page.job_id, refusal
      );
  end if;

  select coalesce(pg_catalog.string_agg(
    pg_catalog.concat_ws(E'\t',
      -- COPY's escapes; a NULL name becomes the empty name, which the rules refuse.
      pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
        coalesce(u.filename, ''), '\', '\\'), E'\t', '\t'), E'\n', '\n'), E'\r', '\r'),
      coalesce(u.size_bytes::text, ''),
      -- As listing_page.ts does: an ETag never holds these, but must not break the line.
      coalesce(pg_catalog.translate(u.etag, E'\t\n\r', '   '), ''),
      -- Milliseconds since the epoch, with the microseconds as a fraction: read back exactly.
      coalesce((extract(epoch from u.last_modified) * 1000)::numeric(20, 3)::text, '')
    ) || E'\n', '' order by u.ordinality), '')
  into page_listing
  from rows from (
    pg_catalog.unnest(s3_cache_rebuild_stage_page.filenames),
    pg_catalog.unnest(s3_cache_rebuild_stage_page.sizes),
    pg_catalog.unnest(s3_cache_rebuild_stage_page.etags),
    pg_catalog.unnest(s3_cache_rebuild_stage_page.last_modifieds)
  ) with ordinality as u (filename, size_bytes, etag, last_modified, ordinality);

  return public.s3_cache_rebuild_stage_page(
    s3_cache_rebuild_stage_page.job_id, s3_cache_rebuild_stage_page.worker,
    s3_cache_rebuild_stage_page.previous_token, s3_cache_rebuild_stage_page.next_token,
    page_listing
  );
end;
$$;

-------------------------------------------------------------------------------------------------
-- Reading a job's listing back
-------------------------------------------------------------------------------------------------

-- Every staged listing as rows: job_id, then each listed key with what finish does with it
-- (`action`):
--   'skip'    a name the naming rules refuse (a folder, `.txt`, an escaped control character…):
--             left out of the index, and removed from it if an old row has it;
--   'insert'  a new name;
--   'update'  an indexed name whose size, etag or last_modified differ, indexed before the job
--             started;
--   'keep'    an indexed name that is unchanged, or was written since the job started (an upload
--             during a rebuild wins).
-- Most names are plain product names, which one regular expression proves valid (a subset of what
-- s3_cache_check_filenames accepts: safe characters, an image extension, no "..", no edge
-- spaces); only the rest take the full rule cascade (~100 µs each). 06_staging.test.sql holds the
-- two in step. filename is the key as written in the page (an escaped key keeps its backslash,
-- and is refused either way). Reading a size or date that is not a number raises 22P02 naming
-- the value.
--
-- A view, not a function, so finish and preview get it inlined: as a set-returning function
-- (which `set search_path` keeps from being inlined) it cost three times the query itself.
-- security_invoker: readers need their own rights on the tables (only service_role has them).
--   select action, count(*) from s3_cache_rebuild_listing where job_id = 7 group by action;
drop function if exists public.s3_cache_rebuild_listing(bigint);
create or replace view public.s3_cache_rebuild_listing
with (security_invoker = true)
as
select
  j.id as job_id,
  l.filename,
  l.size_bytes,
  l.etag,
  l.last_modified,
  case
    -- Every name is checked, indexed ones too: a name the rules refuse (left from before they
    -- existed, or written around the SQL API) goes from the index at the next rebuild.
    when not (
      case
        when l.filename
            operator(pg_catalog.~) '^[0-9A-Za-z_-][0-9A-Za-z._ -]*\.([jJ][pP][eE]?[gG]|[pP][nN][gG]|[wW][eE][bB][pP]|[gG][iI][fF]|[aA][vV][iI][fF])$'
          and pg_catalog.strpos(l.filename, '..') = 0
          and pg_catalog.char_length(l.filename) <= 255
          then true
        else public.s3_cache_filename_problem(l.filename) is null
      end
    ) then 'skip'
    when c.id is null then 'insert'
    when c.updated_at < j.started_at
      and (c.size_bytes, c.etag, c.last_modified)
        is distinct from (l.size_bytes, l.etag, l.last_modified)
      then 'update'
    else 'keep'
  end as action
from public.s3_cache_rebuilds as j
join public.s3_cache_rebuild_pages as p on p.job_id = j.id
cross join lateral pg_catalog.string_to_table(p.listing, E'\n') as t (line)
cross join lateral (
  select
    pg_catalog.split_part(t.line, E'\t', 1) as filename,
    nullif(pg_catalog.split_part(t.line, E'\t', 2), '')::bigint as size_bytes,
    nullif(pg_catalog.split_part(t.line, E'\t', 3), '') as etag,
    -- float8 seconds hold epoch microseconds exactly; to_timestamp rounds to the microsecond.
    pg_catalog.to_timestamp(nullif(pg_catalog.split_part(t.line, E'\t', 4), '')::float8 / 1000)
      as last_modified
  -- Parsed once per line: without this fence the planner copies each split_part into every
  -- place the column is used (join key, CASE, output), ~2x the work.
  offset 0
) as l
left join public.s3_image_cache as c on c.filename::text = l.filename
-- Every line ends with a newline, so each page splits into its lines and one last ''.
where t.line <> '';

comment on view public.s3_cache_rebuild_listing is
  'Staged listing of rebuild jobs, one row per listed key, with the action finish takes for it.';
revoke all on public.s3_cache_rebuild_listing from anon, authenticated;
grant select on public.s3_cache_rebuild_listing to service_role;

-------------------------------------------------------------------------------------------------
-- Preview and finish over the pages
-------------------------------------------------------------------------------------------------

-- What finishing the job would change, without changing anything: counts and up to sample_limit
-- names of each kind (in byte order), and how many listed keys the naming rules refuse
-- (`skipped`). Rows written after the job started are left out: finish never touches them. Needs a
-- running job whose listing is complete.
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
  job public.s3_cache_rebuilds := public.s3_cache_rebuild_lock_running(
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

-- Applies a running job whose listing is complete, in one statement of one transaction (readers
-- see the old index until commit, the new one after; never an empty one):
--   * listed valid names that are new, or indexed with a different size/etag/last_modified,
--     are upserted (content_type from the extension; width/height cleared unless the etag, hence
--     the bytes, is unchanged); unchanged rows are not touched, so their updated_at stays;
--   * names the naming rules refuse are counted as `skipped` and left out;
--   * index rows the listing does not contain (with a valid name) are deleted;
--   * rows written since the job started (updated_at >= started_at) are neither overwritten nor
--     deleted: an upload during a rebuild is never lost.
-- Then the job is marked succeeded with its counts, its lease released and its pages dropped.
-- The job row lock makes a second concurrent finish wait and then refuse. Same for 'reconcile'.
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
  job public.s3_cache_rebuilds := public.s3_cache_rebuild_lock_running(
    s3_cache_rebuild_finish.job_id, 'finish'
  );
  inserted_count bigint;
  updated_count bigint;
  removed_count bigint;
  skipped_count bigint;
begin
  if not job.listing_complete then
    raise exception using
      errcode = '55000',
      message = pg_catalog.format('Cannot finish rebuild %s: its listing is not complete', job.id);
  end if;

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
    returning 1
  )
  select
    (select count(*) filter (where u.is_new) from upserted as u),
    (select count(*) filter (where not u.is_new) from upserted as u),
    (select count(*) from removed),
    (select count(distinct l.filename) from listed as l where l.action = 'skip')
  into inserted_count, updated_count, removed_count, skipped_count;

  delete from public.s3_cache_rebuild_pages as p where p.job_id = job.id;

  update public.s3_cache_rebuilds as r set
    status = 'succeeded',
    finished_at = pg_catalog.clock_timestamp(),
    inserted = inserted_count,
    updated = updated_count,
    removed = removed_count,
    skipped = skipped_count,
    lease_owner = null,
    lease_expires_at = null
  where r.id = job.id
  returning r.* into job;
  return pg_catalog.to_jsonb(job);
end;
$$;

-- Ends a running job as failed with `error`; s3_image_cache is left exactly as it was and the
-- job's pages are dropped. Returns the job.
--   select s3_cache_rebuild_fail(7, 'S3 answered 403 AccessDenied');
create or replace function public.s3_cache_rebuild_fail(job_id bigint, error text)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := public.s3_cache_rebuild_lock_running(
    s3_cache_rebuild_fail.job_id, 'fail'
  );
begin
  delete from public.s3_cache_rebuild_pages as p where p.job_id = job.id;
  update public.s3_cache_rebuilds as r set
    status = 'failed',
    finished_at = pg_catalog.clock_timestamp(),
    error = s3_cache_rebuild_fail.error,
    lease_owner = null,
    lease_expires_at = null
  where r.id = job.id
  returning r.* into job;
  return pg_catalog.to_jsonb(job);
end;
$$;

-- Cancels a running job; s3_image_cache is left exactly as it was and the job's pages are dropped.
-- Cancelling a job that is not running raises, naming its status. Returns the job.
--   select s3_cache_rebuild_cancel(7);
create or replace function public.s3_cache_rebuild_cancel(job_id bigint)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.s3_cache_rebuilds := public.s3_cache_rebuild_lock_running(
    s3_cache_rebuild_cancel.job_id, 'cancel'
  );
begin
  delete from public.s3_cache_rebuild_pages as p where p.job_id = job.id;
  update public.s3_cache_rebuilds as r set
    status = 'cancelled',
    finished_at = pg_catalog.clock_timestamp(),
    lease_owner = null,
    lease_expires_at = null
  where r.id = job.id
  returning r.* into job;
  return pg_catalog.to_jsonb(job);
end;
$$;

-------------------------------------------------------------------------------------------------
-- Function rights (as in the first migration, for the functions added here)
-------------------------------------------------------------------------------------------------

do $$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'public'::regnamespace and p.proname like 's3\_cache\_%'
  loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end
$$;

grant execute on function public.s3_cache_rebuild_status(bigint) to authenticated;
