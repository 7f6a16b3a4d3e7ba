-- Staging a job's bucket listing: the pages table (one row per ListObjectsV2 page), the call that
-- stages a page, and the view that reads the staged pages back as rows with what finish will do
-- with each key.
--
-- Why this exists: a rebuild lists the bucket over many worker invocations and must survive a
-- crash between any two of them. Each page is committed together with its continuation token, so
-- a resumed job continues from the last page that reached disk and never counts a page twice.
-- Staging is one append of the page's text (~1.5 ms a page); the per-key work is done once,
-- set-based, when the job is previewed or finished (..._rebuild_apply.sql).
--
-- The page's text format is encoded in one place, the worker's
-- supabase/functions/s3-image-service/jobs/listing_page.ts; here it is only checked (its framing)
-- and read back (the view). Tests and psql write the text themselves, as the examples show.
--
-- Safe to run again: the table with if not exists, every function and the view created here and
-- nowhere else with create or replace.

set client_min_messages = warning;

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

-- What `on delete cascade` would do, for the rare job a DBA deletes by hand.
create or replace function s3_image_cache_private.s3_cache_rebuild_staging_cascade()
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
-- A trigger function: Postgres runs it without checking EXECUTE, so nobody needs the right.
revoke all on function s3_image_cache_private.s3_cache_rebuild_staging_cascade() from public, anon, authenticated;

create or replace trigger s3_cache_rebuilds_delete_staging
  after delete on public.s3_cache_rebuilds
  for each row execute function s3_image_cache_private.s3_cache_rebuild_staging_cascade();


-- Row-level security on and no policy: only service_role (bypassrls) and the owner see a page.
-- Supabase's default privileges give the API roles everything in public; take it back.
alter table public.s3_cache_rebuild_pages enable row level security;
revoke all on table public.s3_cache_rebuild_pages from anon, authenticated;
grant all on table public.s3_cache_rebuild_pages to service_role;

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
-- The worker writes it with encodeListingPage (jobs/listing_page.ts), the format's one encoder.
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
revoke all on function public.s3_cache_rebuild_stage_page(bigint, text, text, text, text) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_stage_page(bigint, text, text, text, text) to service_role;

-- Every staged listing as rows: job_id, then each listed key with what finish does with it
-- (`action`):
--   'skip'    a name the naming rules refuse (a folder, `.txt`, an escaped control character…):
--             left out of the index, and removed from it if an old row has it;
--   'insert'  a new name;
--   'update'  an indexed name whose size, etag or last_modified differ, indexed before the job
--             started;
--   'keep'    an indexed name that is unchanged, or was written since the job started (an upload
--             during a rebuild wins);
--   'removed' a name not in the index because remove_file_from_s3_cache removed it after the job
--             started: the listing may predate the delete, so it is not added back.
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
    when c.id is null and d.filename is not null then 'removed'
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
left join s3_image_cache_private.s3_cache_removals as d
  on c.id is null and d.filename = l.filename and d.removed_at >= j.started_at
-- Every line ends with a newline, so each page splits into its lines and one last ''.
where t.line <> '';

comment on view public.s3_cache_rebuild_listing is
  'Staged listing of rebuild jobs, one row per listed key, with the action finish takes for it.';
revoke all on public.s3_cache_rebuild_listing from anon, authenticated;
grant select on public.s3_cache_rebuild_listing to service_role;
