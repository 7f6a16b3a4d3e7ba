-- Shape of the s3_image_cache schema: tables, columns, indexes, RLS, trigger, and the rules every
-- function follows (search_path pinned, security invoker).
begin;
create extension if not exists pgtap with schema extensions;
-- Hosted Supabase has extensions on the search_path already; a bare cluster does not.
set local search_path = public, extensions;
select plan(47);

select has_table('public', 's3_image_cache', 's3_image_cache exists');
select has_table('public', 's3_cache_rebuilds', 's3_cache_rebuilds exists');
select has_table('public', 's3_cache_rebuild_pages', 's3_cache_rebuild_pages exists');
select hasnt_table('public', 's3_cache_rebuild_staging',
  'the row-per-key staging table of the first form is gone');

select columns_are(
  'public', 's3_image_cache',
  array['id', 'filename', 'created_at', 'updated_at', 'size_bytes', 'etag', 'content_type',
    'last_modified', 'width', 'height'],
  's3_image_cache keeps the seed columns and adds the S3 metadata'
);
select col_type_is('public', 's3_image_cache', 'filename', 'character varying(255)',
  'filename is varchar(255) as in the seed');
select col_not_null('public', 's3_image_cache', 'filename', 'filename is not null');
select col_type_is('public', 's3_image_cache', 'updated_at', 'timestamp with time zone',
  'updated_at is timestamptz');
select col_is_pk('public', 's3_image_cache', 'id', 'id is the primary key');
select col_is_unique('public', 's3_image_cache', array['filename'], 'filename is unique');
select has_index('public', 's3_image_cache', 's3_image_cache_created_at_idx',
  'created_at has an index');
select is(
  (select pg_get_indexdef('public.s3_image_cache_filename_c_idx'::regclass)),
  'CREATE INDEX s3_image_cache_filename_c_idx ON public.s3_image_cache USING btree (filename COLLATE "C")',
  'prefix search has a byte-order (collate "C") index'
);

select columns_are(
  'public', 's3_cache_rebuilds',
  array['id', 'mode', 'status', 'started_by', 'started_at', 'finished_at', 'continuation_token',
    'listing_complete', 'pages', 'listed', 'skipped', 'inserted', 'updated', 'removed', 'error',
    'lease_owner', 'lease_expires_at', 'lease_seconds', 'invocations', 'summary', 'force',
    'ranges'],
  's3_cache_rebuilds has the job columns'
);
select col_default_is('public', 's3_cache_rebuilds', 'invocations', '[]'::jsonb,
  'invocations default to an empty array');
select is(
  (select pg_get_indexdef('public.s3_cache_rebuilds_one_running_idx'::regclass)),
  'CREATE UNIQUE INDEX s3_cache_rebuilds_one_running_idx ON public.s3_cache_rebuilds USING btree (status) WHERE (status = ''running''::text)',
  'a partial unique index allows one running job'
);
select views_are('public', array['s3_cache_rebuild_listing'],
  'public holds one view, the staged listing');
select columns_are('public', 's3_cache_rebuild_listing',
  array['job_id', 'filename', 'size_bytes', 'etag', 'last_modified', 'action'],
  's3_cache_rebuild_listing shows each listed key of a job with its metadata and finish''s action');
select is(
  (select reloptions from pg_class where oid = 'public.s3_cache_rebuild_listing'::regclass),
  array['security_invoker=true'],
  'the listing view runs with its reader''s rights (security_invoker)'
);
select columns_are('public', 's3_cache_rebuild_pages', array['job_id', 'page', 'listing'],
  's3_cache_rebuild_pages holds a job, a page number and the page''s listing text');
select col_is_pk('public', 's3_cache_rebuild_pages', array['job_id', 'page'],
  'a page is identified by its job and its number');
select is(
  (select attstorage::text || '/' || attcompression::text from pg_attribute
   where attrelid = 'public.s3_cache_rebuild_pages'::regclass and attname = 'listing'),
  case when exists (select 1 from pg_settings
                    where name = 'default_toast_compression' and 'lz4' = any (enumvals))
    then 'x/l' else 'e/' end,
  'a page''s listing is lz4-compressed where the server has lz4, else stored out of line uncompressed'
);
select has_trigger('public', 's3_cache_rebuilds', 's3_cache_rebuilds_delete_staging',
  'deleting a job deletes its staged pages');
select is(
  (select relpersistence from pg_class where oid = 'public.s3_cache_rebuild_pages'::regclass),
  'p'::"char",
  'the pages table is logged (a resumed job never loses a staged page)'
);

select is(
  (select relrowsecurity from pg_class where oid = 'public.s3_image_cache'::regclass), true,
  'RLS is on for s3_image_cache'
);
select is(
  (select relrowsecurity from pg_class where oid = 'public.s3_cache_rebuilds'::regclass), true,
  'RLS is on for s3_cache_rebuilds'
);
select is(
  (select relrowsecurity from pg_class where oid = 'public.s3_cache_rebuild_pages'::regclass),
  true, 'RLS is on for s3_cache_rebuild_pages'
);
select policies_are('public', 's3_image_cache', array['Anyone can read the image index'],
  'one read policy on s3_image_cache');
select policy_roles_are('public', 's3_image_cache', 'Anyone can read the image index',
  array['anon', 'authenticated'], 'anon and authenticated may read the index');
select policy_cmd_is('public', 's3_image_cache', 'Anyone can read the image index', 'select',
  'the index policy only reads');
select policies_are('public', 's3_cache_rebuilds', array['Managers and admins can read rebuild jobs'],
  'one read policy on s3_cache_rebuilds');
select policy_roles_are('public', 's3_cache_rebuilds', 'Managers and admins can read rebuild jobs',
  array['authenticated'], 'only authenticated may read rebuild progress');
select policies_are('public', 's3_cache_rebuild_pages', array[]::name[],
  'the pages table has no policy: invisible to the API roles');

select has_trigger('public', 's3_image_cache', 's3_image_cache_touch_updated_at',
  'updated_at is kept by a trigger');

select functions_are('public', array[
  's3_cache_filename_problem', 's3_cache_normalize_filename',
  's3_cache_content_type_for', 'add_file_to_s3_cache',
  'add_files_to_s3_cache', 'remove_file_from_s3_cache', 's3_cache_remove_file', 'lookup_s3_cache',
  'search_s3_cache',
  's3_cache_stats', 's3_cache_rebuild_start', 's3_cache_rebuild_claim',
  's3_cache_rebuild_stage_page', 's3_cache_rebuild_record_invocation', 's3_cache_rebuild_annotate',
  's3_cache_rebuild_preview', 's3_cache_rebuild_finish',
  's3_cache_rebuild_fail', 's3_cache_rebuild_cancel', 's3_cache_rebuild_force',
  's3_cache_rebuild_status', 'storefront_images',
  's3_cache_apply_events', 's3_cache_record_malformed_event', 's3_cache_live_sync_stats',
  's3_cache_rebuild_partition', 's3_cache_rebuild_claim_ranges',
  's3_cache_rebuild_stage_range_page', 's3_cache_rebuild_split_range'
], 'public holds exactly the SQL API functions');
select functions_are('s3_image_cache_private', array[
  's3_image_cache_touch_updated_at', 's3_cache_check_filenames', 's3_cache_file_error',
  's3_cache_stored_form', 's3_cache_mixes_scripts', 's3_cache_invisible_characters',
  's3_cache_scripts_may_mix',
  'has_app_role', 's3_cache_rebuild_lock_running', 's3_cache_rebuild_staging_cascade',
  's3_cache_resume_stalled_jobs', 's3_cache_sequencer_cmp', 's3_cache_count_events',
  's3_cache_rebuild_lock_for_ranges', 's3_cache_rebuild_ranges_touch',
  's3_cache_rebuild_range_json', 's3_cache_rebuild_ranges_cascade',
  's3_cache_rebuild_ranges_guard', 's3_cache_rebuild_plain_name', 's3_cache_rebuild_listed'
], 'the internal helpers live in the private schema');
select is(
  (select array_agg(p.proname order by p.proname) from pg_proc as p
   where p.pronamespace in ('public'::regnamespace, 's3_image_cache_private'::regnamespace)
     and not coalesce('search_path=""' = any (p.proconfig), false)
     -- Inlined into the rebuild's finish and preview, which a SET clause would prevent; every
     -- name in them carries its schema (..._rebuild_names_fast.sql, 16_names_fast.test.sql).
     and p.proname not in ('s3_cache_rebuild_plain_name', 's3_cache_rebuild_listed')),
  null, 'every function pins search_path to empty, but the two the rebuild inlines'
);
select is(
  (select array_agg(p.proname order by p.proname) from pg_proc as p
   where p.pronamespace in ('public'::regnamespace, 's3_image_cache_private'::regnamespace)
     and p.prosecdef),
  null, 'every function is security invoker'
);
select is(
  (select count(*)::int from pg_proc as p
   where p.pronamespace = 'public'::regnamespace and p.proname = 'add_file_to_s3_cache'),
  1, 'add_file_to_s3_cache has one signature, so a one-literal call is never ambiguous'
);
select function_returns('public', 'add_file_to_s3_cache',
  array['text', 'bigint', 'text', 'text', 'timestamp with time zone', 'integer', 'integer'], 'text',
  'add_file_to_s3_cache(filename, size_bytes, etag, content_type, last_modified, width, height) returns text');
select function_returns('public', 'add_files_to_s3_cache', array['text[]'], 'integer',
  'add_files_to_s3_cache(text[]) returns integer');
select function_returns('public', 'lookup_s3_cache', array['text[]'], 'setof record',
  'lookup_s3_cache(text[]) returns a table');
select function_returns('public', 'search_s3_cache', array['text', 'text', 'integer'],
  'setof s3_image_cache', 'search_s3_cache returns setof s3_image_cache');
select is(
  (select count(*)::int from pg_proc as p
   where p.pronamespace = 'public'::regnamespace and p.proname = 's3_cache_rebuild_stage_page'),
  1, 's3_cache_rebuild_stage_page has one signature: the listing text, encoded by listing_page.ts alone'
);
select function_returns('public', 's3_cache_rebuild_stage_page',
  array['bigint', 'text', 'text', 'text', 'text'], 'jsonb',
  's3_cache_rebuild_stage_page(job_id, worker, previous_token, next_token, listing) returns jsonb');
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc as p
   where p.pronamespace = 'public'::regnamespace
     and p.proconfig @> array['enable_nestloop=off', 'jit=off', 'work_mem=64MB']),
  array['s3_cache_rebuild_finish', 's3_cache_rebuild_preview'],
  'finish and preview run without nested loops or JIT, with 64MB of work_mem'
);

-- updated_at: a trigger stamps it with clock_timestamp() on insert and on every update.
insert into public.s3_image_cache (filename, updated_at) values ('t01-trigger.jpg', '2000-01-01');
select cmp_ok(
  (select updated_at from public.s3_image_cache where filename = 't01-trigger.jpg'), '>',
  now(), 'insert stamps updated_at with clock_timestamp(), later than the transaction start'
);
create temp table t01_before as
  select updated_at from public.s3_image_cache where filename = 't01-trigger.jpg';
update public.s3_image_cache set etag = '"x"' where filename = 't01-trigger.jpg';
select cmp_ok(
  (select updated_at from public.s3_image_cache where filename = 't01-trigger.jpg'), '>',
  (select updated_at from t01_before), 'update moves updated_at forward'
);

select * from finish();
rollback;
