-- Live sync (s3_cache_apply_events): S3 sequencers ordered as AWS documents (right-padded with
-- zeros, then compared), repeats and older events ignored, a delete never undone by a late create
-- of the older object, refused names counted and left out, rows other doors wrote judged by their
-- last_modified, a batch applied whole or not at all, events during a rebuild kept by its finish,
-- the counters, and who may call it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(46);

-- pgTAP's functions must stay callable while a test runs as authenticated (as on hosted Supabase).
grant execute on all functions in schema extensions to anon, authenticated;

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
delete from s3_image_cache;
delete from s3_image_cache_private.s3_cache_event_keys;
delete from s3_image_cache_private.s3_cache_event_counts;
delete from s3_image_cache_private.s3_cache_event_last;

-- One event as the route sends it.
create function pg_temp.ev(
  key text, action text, sequencer text, event_time text, size bigint default 10,
  etag text default 'e1'
) returns jsonb language sql as $$
  select jsonb_build_object('key', key, 'action', action, 'sequencer', sequencer,
    'event_time', event_time, 'size', size, 'etag', etag)
$$;
-- Applies events and answers the outcomes in order, e.g. 'applied,ignored'.
create function pg_temp.apply(variadic events jsonb[]) returns text language sql as $$
  select string_agg(o ->> 'outcome', ',' order by n)
  from jsonb_array_elements(s3_cache_apply_events(to_jsonb(events)) -> 'events')
    with ordinality as x (o, n)
$$;

-- Sequencer order -----------------------------------------------------------------------------------
select is(s3_image_cache_private.s3_cache_sequencer_cmp('0055AED6DCD90281E5', '0055AED6DCD90281E6'), -1,
  'sequencers: the greater hex value is the later event');
select is(s3_image_cache_private.s3_cache_sequencer_cmp('0A', '0A00'), 0,
  'sequencers of different lengths compare right-padded with zeros: 0A = 0A00');
select is(s3_image_cache_private.s3_cache_sequencer_cmp('0A1', '0B'), -1,
  'right-padded: 0A1 < 0B0, although longer');
select is(s3_image_cache_private.s3_cache_sequencer_cmp('1', '0FFFF'), 1,
  'right-padded: 10000 > 0FFFF');
select is(s3_image_cache_private.s3_cache_sequencer_cmp('0a', '0A'), 0, 'hex digits compare case-blind');

-- Created, repeated, older ---------------------------------------------------------------------------
select is(pg_temp.apply(pg_temp.ev('t13-a.jpg', 'created', '0A', '2026-12-07T09:00:00.250Z', 52311, 'd41d8')),
  'applied', 'a create event is applied');
select results_eq(
  $$select size_bytes::int, etag, content_type, last_modified from s3_image_cache where filename = 't13-a.jpg'$$,
  $$values (52311, 'd41d8', 'image/jpeg', '2026-12-07 09:00:00.25+00'::timestamptz)$$,
  'the row carries the event''s size, its ETag, the type from the extension, the event''s time');
select is(pg_temp.apply(pg_temp.ev('t13-q.jpg', 'created', '01', '2026-12-07T09:00:00Z', 1, '"quoted"')),
  'applied', 'an ETag in quotes is applied');
select is((select etag from s3_image_cache where filename = 't13-q.jpg'), 'quoted',
  'and stored without them, as the other doors store ETags');
select is(pg_temp.apply(pg_temp.ev('t13-a.jpg', 'created', '0A', '2026-12-07T09:00:00.250Z', 52311, 'd41d8')),
  'ignored', 'the same event again is ignored');
select is(pg_temp.apply(pg_temp.ev('t13-a.jpg', 'created', '09FF', '2026-12-07T08:59:59Z', 1, 'old')),
  'ignored', 'an older event (smaller sequencer) after a newer one is ignored');
select is((select size_bytes::int from s3_image_cache where filename = 't13-a.jpg'), 52311,
  'and changes nothing');
select is(pg_temp.apply(pg_temp.ev('t13-a.jpg', 'created', '0A01', '2026-12-07T09:00:01Z', 52311, 'd41d8')),
  'applied', 'a newer event for the same bytes is applied');

-- Width and height survive only an unchanged ETag --------------------------------------------------
update s3_image_cache set width = 800, height = 600 where filename = 't13-a.jpg';
select pg_temp.apply(pg_temp.ev('t13-a.jpg', 'created', '0A02', '2026-12-07T09:00:02Z', 52311, 'd41d8'));
select results_eq($$select width, height from s3_image_cache where filename = 't13-a.jpg'$$,
  $$values (800, 600)$$, 'same ETag: width and height are kept');
select pg_temp.apply(pg_temp.ev('t13-a.jpg', 'created', '0A03', '2026-12-07T09:00:03Z', 4000, 'other'));
select results_eq($$select width, height, size_bytes::int from s3_image_cache where filename = 't13-a.jpg'$$,
  $$values (null::int, null::int, 4000)$$, 'another ETag: width and height are cleared');

-- Removed, and a late create of the older object -------------------------------------------------------
select is(pg_temp.apply(pg_temp.ev('t13-a.jpg', 'removed', '0B', '2026-12-07T09:00:10Z', null, null)),
  'applied', 'a delete event is applied');
select is((select count(*)::int from s3_image_cache where filename = 't13-a.jpg'), 0, 'the row is gone');
select is((select count(*)::int from s3_image_cache_private.s3_cache_removals where filename = 't13-a.jpg'), 1,
  'the removal is recorded, so a running rebuild''s finish does not add it back');
select is(pg_temp.apply(pg_temp.ev('t13-a.jpg', 'created', '0A03', '2026-12-07T09:00:03Z', 4000, 'other')),
  'ignored', 'a late create of the older object does not resurrect it');
select is((select count(*)::int from s3_image_cache where filename = 't13-a.jpg'), 0, 'still gone');
select is(pg_temp.apply(pg_temp.ev('t13-a.jpg', 'created', '0C', '2026-12-07T09:00:20Z')),
  'applied', 'a create after the delete (a new object) is applied');

select is(pg_temp.apply(
    pg_temp.ev('t13-b.jpg', 'removed', '0B', '2026-12-07T09:00:10Z', null, null),
    pg_temp.ev('t13-b.jpg', 'created', '0A', '2026-12-07T09:00:00Z')),
  'ignored,ignored',
  'delivered out of order: the delete finds nothing to remove but is remembered, the older create is ignored');
select is((select action from s3_image_cache_private.s3_cache_event_keys where key = 't13-b.jpg'), 'removed',
  'the tombstone is kept');
select is(pg_temp.apply(
    pg_temp.ev('t13-c.jpg', 'created', '01', '2026-12-07T09:00:00Z'),
    pg_temp.ev('t13-c.jpg', 'removed', '02', '2026-12-07T09:00:01Z', null, null),
    pg_temp.ev('t13-c.jpg', 'created', '03', '2026-12-07T09:00:02Z')),
  'applied,applied,applied', 'one key''s events in one batch apply in order');

select is(pg_temp.apply(
    pg_temp.ev('t13-tick.jpg', 'created', '18C5F3A2B1C', '2026-12-07T09:00:00.001Z'),
    pg_temp.ev('t13-tick.jpg', 'removed', '18C5F3A2B1C', '2026-12-07T09:00:00.001Z', null, null),
    pg_temp.ev('t13-tick.jpg', 'removed', '18C5F3A2B1C', '2026-12-07T09:00:00.001Z', null, null)),
  'applied,applied,ignored',
  'one sequencer for a put and a delete (a millisecond clock as sequencer): the later delivery wins, a repeat is still a repeat');

-- Without sequencers: the time decides ------------------------------------------------------------------
select is(pg_temp.apply(
    pg_temp.ev('t13-d.jpg', 'created', null, '2026-12-07T09:00:05Z'),
    pg_temp.ev('t13-d.jpg', 'created', null, '2026-12-07T09:00:05Z'),
    pg_temp.ev('t13-d.jpg', 'removed', null, '2026-12-07T09:00:04Z', null, null)),
  'applied,ignored,ignored', 'no sequencer: a repeat and an earlier event are ignored');

-- Refused names -----------------------------------------------------------------------------------------
select results_eq(
  $$select o ->> 'outcome', o ->> 'reason'
    from jsonb_array_elements(s3_cache_apply_events(jsonb_build_array(
      pg_temp.ev('t13/a.jpg', 'created', '01', '2026-12-07T09:00:00Z'),
      pg_temp.ev('t13-notes.txt', 'created', '01', '2026-12-07T09:00:00Z'))) -> 'events') as o$$,
  $$values ('refused', 'path segments are not allowed'),
           ('refused', 'only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed')$$,
  'names the rules refuse are refused, with the rule''s reason');
select is((select count(*)::int from s3_image_cache where filename in ('t13/a.jpg', 't13-notes.txt')), 0,
  'and left out of the index');

-- Rows other doors wrote (no sequencer): judged by last_modified, 1 s of tolerance ------------------
select add_file_to_s3_cache('t13-door.jpg', size_bytes => 5, etag => 'door',
  last_modified => '2026-12-07 12:00:00+00');
select is(pg_temp.apply(pg_temp.ev('t13-door.jpg', 'created', '01', '2026-12-07T11:59:50Z', 1, 'older')),
  'ignored', 'a create older than the uploaded object by more than 1 s is ignored');
select is(pg_temp.apply(pg_temp.ev('t13-door.jpg', 'removed', '02', '2026-12-07T11:59:55Z', null, null)),
  'ignored', 'a delete older than the uploaded object is ignored');
select is((select etag from s3_image_cache where filename = 't13-door.jpg'), 'door', 'the upload''s row stays');
select is(pg_temp.apply(pg_temp.ev('t13-door.jpg', 'removed', '03', '2026-12-07T11:59:59.500Z', null, null)),
  'applied', 'a delete within S3''s 1 s LastModified precision of the row is applied');
select add_file_to_s3_cache('t13-dba.jpg', size_bytes => 5);
select remove_file_from_s3_cache('t13-dba.jpg');
select is(pg_temp.apply(pg_temp.ev('t13-dba.jpg', 'created', null, '2020-01-01T00:00:00Z')),
  'ignored', 'a create older than a DBA''s removal is ignored');

-- A batch is applied whole or not at all ----------------------------------------------------------------
select throws_ok(
  $$select s3_cache_apply_events(jsonb_build_array(
      pg_temp.ev('t13-atomic.jpg', 'created', '01', '2026-12-07T09:00:00Z'),
      jsonb_build_object('key', 't13-atomic-2.jpg', 'action', 'moved', 'event_time', '2026-12-07T09:00:00Z')))$$,
  '22023', 'Cannot apply event 2: action must be "created" or "removed"',
  'a malformed element refuses the whole batch, naming it');
select is((select count(*)::int from s3_image_cache where filename = 't13-atomic.jpg'), 0,
  'nothing of a refused batch is applied');
select throws_ok($$select s3_cache_apply_events('{}')$$, '22023',
  'Cannot apply events: expected a JSON array of events', 'the batch must be an array');

-- Events during a rebuild are kept by its finish ----------------------------------------------------------
delete from s3_image_cache;
insert into s3_image_cache (filename, size_bytes, etag, last_modified)
select n, 1, '"e"', '2026-01-01 00:00:00+00'
from unnest(array['t13-k1.jpg', 't13-k2.jpg', 't13-k3.jpg', 't13-k4.jpg', 't13-r1.jpg']) as n;
create temp table t13_job on commit drop as
select (s3_cache_rebuild_start('t13') -> 'job' ->> 'id')::bigint as id;
select s3_cache_rebuild_claim((select id from t13_job), 'w', 60);
-- The listing was taken before the events below: it still has r1, and r2 as it was then.
select s3_cache_rebuild_stage_page((select id from t13_job), 'w', null, null,
  E't13-k1.jpg\t1\t"e"\t1767225600000\nt13-k2.jpg\t1\t"e"\t1767225600000\n'
  || E't13-k3.jpg\t1\t"e"\t1767225600000\nt13-k4.jpg\t1\t"e"\t1767225600000\n'
  || E't13-r1.jpg\t1\t"e"\t1767225600000\nt13-r2.jpg\t1\t"e"\t1767225600000\n');
select is(pg_temp.apply(
    pg_temp.ev('t13-r1.jpg', 'removed', '05', '2026-12-07T09:00:00Z', null, null),
    pg_temp.ev('t13-r2.jpg', 'created', '05', '2026-12-07T09:00:00Z', 777, 'new'),
    pg_temp.ev('t13-r3.jpg', 'created', '05', '2026-12-07T09:00:00Z', 888, 'new')),
  'applied,applied,applied', 'events during a rebuild are applied');
select is(s3_cache_rebuild_finish((select id from t13_job)) ->> 'status', 'succeeded', 'the rebuild finishes');
select results_eq(
  $$select filename::text, size_bytes::int from s3_image_cache order by filename collate "C"$$,
  $$values ('t13-k1.jpg', 1), ('t13-k2.jpg', 1), ('t13-k3.jpg', 1), ('t13-k4.jpg', 1),
           ('t13-r2.jpg', 777), ('t13-r3.jpg', 888)$$,
  'its finish keeps what events wrote: r1 stays removed, r2 keeps the event''s metadata, r3 (not listed) stays');

-- Counters ------------------------------------------------------------------------------------------------
select s3_cache_record_malformed_event();
select results_eq(
  $$select (s -> 'last_applied' ->> 'key'), (s -> 'last_applied' ->> 'action'),
      (s -> 'last_hour' ->> 'malformed')::int, (s -> 'last_hour' ->> 'refused')::int
    from (select s3_cache_live_sync_stats() as s) as x$$,
  $$values ('t13-r3.jpg', 'created', 1, 2)$$,
  'the stats name the last event applied and count outcomes, malformed deliveries too');
select ok((s3_cache_live_sync_stats() -> 'last_hour' ->> 'applied')::int >= 14,
  'applied events are counted');
select is((s3_cache_apply_events('[]', 3) -> 'ignored')::int, 3,
  'events the route ignored before SQL are counted as ignored');

-- Bounded upkeep: key memories older than 7 days and counters older than 2 hours go --------------------
insert into s3_image_cache_private.s3_cache_event_keys (key, sequencer, event_time, action, applied_at)
values ('t13-old.jpg', '01', '2026-01-01T00:00:00Z', 'removed', clock_timestamp() - interval '8 days'),
       ('t13-recent.jpg', '01', '2026-01-01T00:00:00Z', 'removed', clock_timestamp() - interval '6 days');
insert into s3_image_cache_private.s3_cache_event_counts (minute, stripe, applied)
values (date_trunc('minute', clock_timestamp()) - interval '3 hours', 0, 5);
select s3_cache_apply_events('[]');
select results_eq(
  $$select key from s3_image_cache_private.s3_cache_event_keys where key in ('t13-old.jpg', 't13-recent.jpg')$$,
  $$values ('t13-recent.jpg')$$,
  'a key''s memory is pruned after 7 days, not before');
select is((select count(*)::int from s3_image_cache_private.s3_cache_event_counts
  where minute < clock_timestamp() - interval '2 hours'), 0, 'counters older than two hours are pruned');

-- Who may call it -------------------------------------------------------------------------------------------
set local role authenticated;
select throws_ok($$select s3_cache_apply_events('[]')$$, '42501', null,
  'authenticated users cannot apply events');
reset role;
set local role anon;
select throws_ok($$select s3_cache_live_sync_stats()$$, '42501', null, 'anon cannot read the live-sync stats');
reset role;

select * from finish();
rollback;
