-- Live sync: bucket change events (S3 via EventBridge or SNS, MinIO's webhook, the local stack)
-- applied to the index as they happen, with the per-key memory that makes repeated and
-- out-of-order deliveries harmless, and the counters the admin UI shows.
--
-- Why this exists: images reach and leave the bucket by doors other than the upload function
-- (awscli, the console, a supplier's sync). Without events those stay invisible, or linger as dead
-- rows, until a rebuild. Senders repeat deliveries and do not keep their order, so each event is
-- judged against what was last applied for its key (S3's `sequencer` orders one key's events),
-- against rows other doors wrote (which carry no sequencer), and never undoes a delete with a
-- late create of the older object. Every write goes through the same rules as the rebuild (names,
-- content type, updated_at, the removals a running rebuild must not undo), so a rebuild that runs
-- meanwhile keeps what events wrote and still repairs what events missed.
--
-- Safe to run again: tables with if not exists, every function created here and nowhere else
-- with create or replace.

set client_min_messages = warning;

-- What was last applied for each key: its sequencer (upper-case hex as the sender gave it, NULL
-- when the sender gives none), the event's time and action. A 'removed' row is the tombstone that
-- keeps a late create of the older object from bringing it back. Rows are pruned a week after they
-- were written (s3_cache_apply_events does it as it goes): EventBridge gives up on an event after
-- 24 hours and SNS's HTTP retries stop within an hour, so a week covers every retrying sender with
-- room to spare; only a MinIO queue_dir replaying an outage longer than that could bring an older
-- create, and docs/events.md asks for a rebuild after such an outage. Past the window the index
-- row itself still judges a late event (its last_modified, see s3_cache_apply_events).
create table if not exists s3_image_cache_private.s3_cache_event_keys (
  key text primary key,
  sequencer text,
  event_time timestamptz not null,
  action text not null check (action in ('created', 'removed')),
  applied_at timestamptz not null default pg_catalog.clock_timestamp()
);
create index if not exists s3_cache_event_keys_applied_at_idx
  on s3_image_cache_private.s3_cache_event_keys (applied_at);
comment on table s3_image_cache_private.s3_cache_event_keys is
  'Last bucket event applied per key (sequencer, time, action); removed = tombstone. Pruned after 7 days.';
revoke all on table s3_image_cache_private.s3_cache_event_keys from public, anon, authenticated;
grant select, insert, update, delete on table s3_image_cache_private.s3_cache_event_keys
  to service_role;

-- Event outcomes per minute, for the admin UI's "last hour" (kept for two hours, pruned as events
-- come in): bounded at 120 minutes × 16 stripes whatever the event rate. Each connection counts
-- in its own stripe (its backend pid modulo 16), so concurrent deliveries do not queue on one
-- row lock until commit.
create table if not exists s3_image_cache_private.s3_cache_event_counts (
  minute timestamptz not null,
  stripe smallint not null,
  applied integer not null default 0,
  ignored integer not null default 0,
  refused integer not null default 0,
  malformed integer not null default 0,
  primary key (minute, stripe)
);
comment on table s3_image_cache_private.s3_cache_event_counts is
  'Bucket events per minute by outcome (malformed = deliveries answered 400); the last two hours.';
revoke all on table s3_image_cache_private.s3_cache_event_counts from public, anon, authenticated;
grant select, insert, update, delete on table s3_image_cache_private.s3_cache_event_counts
  to service_role;

-- The last event that changed the index, kept apart from s3_cache_event_keys so the admin UI still
-- shows it after the key's row was pruned: one row per stripe (as the counters), the latest wins.
create table if not exists s3_image_cache_private.s3_cache_event_last (
  stripe smallint primary key,
  key text not null,
  action text not null check (action in ('created', 'removed')),
  applied_at timestamptz not null
);
comment on table s3_image_cache_private.s3_cache_event_last is
  'The last bucket event that changed s3_image_cache.';
revoke all on table s3_image_cache_private.s3_cache_event_last from public, anon, authenticated;
grant select, insert, update, delete on table s3_image_cache_private.s3_cache_event_last
  to service_role;

-- Compares two S3 sequencers of the same key: -1, 0 or 1. AWS's event message structure page
-- (docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html): "The
-- sequencers can be of different lengths. So, to compare these values, first right pad the
-- shorter value with zeros, and then do a lexicographical comparison." (Older copies of the page
-- said left; the current one says right, as does aws-lambda-rust-runtime's copy.) Hex digits are
-- compared case-blind, bytewise.
--   select s3_image_cache_private.s3_cache_sequencer_cmp('0055AED6DCD90281E5', '0055AED6DCD90281E6');  -- -1
create or replace function s3_image_cache_private.s3_cache_sequencer_cmp(a text, b text)
returns integer
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select case when p.a < p.b then -1 when p.a > p.b then 1 else 0 end
  from (
    select
      pg_catalog.rpad(pg_catalog.upper($1), w.n, '0') collate "C" as a,
      pg_catalog.rpad(pg_catalog.upper($2), w.n, '0') collate "C" as b
    from (select greatest(pg_catalog.length($1), pg_catalog.length($2)) as n) as w
  ) as p
$$;
revoke all on function s3_image_cache_private.s3_cache_sequencer_cmp(text, text) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_sequencer_cmp(text, text) to service_role;

-- Adds outcomes to the current minute's counters (this connection's stripe) and drops minutes older
-- than two hours.
create or replace function s3_image_cache_private.s3_cache_count_events(
  applied integer,
  ignored integer,
  refused integer,
  malformed integer
)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  delete from s3_image_cache_private.s3_cache_event_counts as c
  where c.minute < pg_catalog.date_trunc('minute', pg_catalog.clock_timestamp()) - interval '2 hours';
  insert into s3_image_cache_private.s3_cache_event_counts as c
    (minute, stripe, applied, ignored, refused, malformed)
  select pg_catalog.date_trunc('minute', pg_catalog.clock_timestamp()),
    pg_catalog.pg_backend_pid() % 16, $1, $2, $3, $4
  where $1 + $2 + $3 + $4 > 0
  on conflict (minute, stripe) do update set
    applied = c.applied + excluded.applied,
    ignored = c.ignored + excluded.ignored,
    refused = c.refused + excluded.refused,
    malformed = c.malformed + excluded.malformed;
$$;
revoke all on function s3_image_cache_private.s3_cache_count_events(integer, integer, integer, integer) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_count_events(integer, integer, integer, integer) to service_role;

-- Applies a batch of bucket events, already read from the sender's shape (the events route does
-- that), in one transaction: all of them or, on any error, none. Each element:
--   {"key": "14000.jpg", "action": "created" | "removed", "sequencer": "0055AED6DCD90281E5" | null,
--    "event_time": "2026-12-07T09:00:00.123Z", "size": 52311 | null, "etag": "…" | null}
-- `key` is the object key, decoded; the etag is stored without S3's quotes, as every other door
-- stores it (the functions' storage module unquotes what S3 answers).
-- Per event, in array order, the outcome:
--   refused  the naming rules refuse the key (s3_cache_filename_problem, as the rebuild checks
--            every listed key): counted and left out, nothing changes;
--   ignored  a repeat, or older than what was last applied for the key: its sequencer is not
--            greater (s3_cache_sequencer_cmp; an equal one with the other action counts as newer
--            unless its time is earlier), or, where either side has none, its time is earlier (or
--            equal, same action); or stale against a row another door wrote (upload,
--            SQL API, rebuild; no sequencer there): its time is more than 1 s (S3's LastModified
--            precision) before the row's last_modified; or a create older than a removal through
--            the SQL API (s3_cache_removals, since the key's last event) by more than 1 s; or a
--            removal of a key the index does not hold (still remembered: a tombstone, and a removal a running rebuild keeps);
--   applied  created: the row is upserted under the exact key (size, etag, last_modified = the
--            event's time, content_type from the extension; width/height kept only when the etag,
--            hence the bytes, is unchanged); removed: the row is deleted and the removal recorded
--            in s3_cache_removals, so a running rebuild's finish does not add it back.
-- Writes stamp updated_at (the table's trigger), so a running rebuild's finish keeps them. Each
-- key is locked (a transaction-level advisory lock, taken in byte order before any work) so two
-- deliveries of one key serialize; the row writes re-check last_modified on the row's latest
-- version, so an upload committed meanwhile wins. `ignored_upstream` counts events the caller
-- ignored before they got here (another bucket, a staging key, an event kind the index does not
-- follow), for the stats. Returns {"applied", "ignored", "refused", "events": [{"key", "action",
-- "outcome", "reason"}]}. A malformed element raises 22023 naming it; at most 1,000 a call.
--   select s3_cache_apply_events('[{"key": "14000.jpg", "action": "created",
--     "sequencer": "0055AED6DCD90281E5", "event_time": "2026-12-07T09:00:00Z", "size": 52311,
--     "etag": "d41d8cd98f00b204e9800998ecf8427e"}]');
create or replace function public.s3_cache_apply_events(
  events jsonb,
  ignored_upstream integer default 0
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  item jsonb;
  element_number bigint;
  problem text;
  event_key text;
  event_action text;
  event_sequencer text;
  happened_at timestamptz;
  event_size bigint;
  event_etag text;
  state s3_image_cache_private.s3_cache_event_keys;
  existing public.s3_image_cache;
  removal_time timestamptz;
  written text;
  outcome text;
  reason text;
  applied_count integer := 0;
  ignored_count integer := coalesce(s3_cache_apply_events.ignored_upstream, 0);
  refused_count integer := 0;
  outcomes jsonb := '[]'::jsonb;
  last_key text;
  last_action text;
  tolerance constant interval := interval '1 second';
begin
  if pg_catalog.jsonb_typeof(s3_cache_apply_events.events) is distinct from 'array' then
    raise exception using
      errcode = '22023', message = 'Cannot apply events: expected a JSON array of events';
  end if;
  if pg_catalog.jsonb_array_length(s3_cache_apply_events.events) > 1000 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('Cannot apply more than 1000 events at once: got %s',
        pg_catalog.jsonb_array_length(s3_cache_apply_events.events));
  end if;
  if ignored_count < 0 then
    raise exception using
      errcode = '22023', message = 'Cannot apply events: ignored_upstream must not be negative';
  end if;

  -- Every element checked before anything is written.
  for item, element_number in
    select e.value, e.ordinality
    from pg_catalog.jsonb_array_elements(s3_cache_apply_events.events) with ordinality as e
  loop
    problem := case
      when pg_catalog.jsonb_typeof(item) is distinct from 'object' then 'it is not an object'
      when pg_catalog.jsonb_typeof(item -> 'key') is distinct from 'string' or item ->> 'key' = ''
        then 'key must be a non-empty string'
      when (item ->> 'action') is null or (item ->> 'action') not in ('created', 'removed')
        then 'action must be "created" or "removed"'
      when coalesce(pg_catalog.jsonb_typeof(item -> 'sequencer'), 'null') <> 'null'
        and (pg_catalog.jsonb_typeof(item -> 'sequencer') <> 'string'
          or (item ->> 'sequencer') operator(pg_catalog.!~) '^[0-9A-Fa-f]{1,64}$')
        then 'sequencer must be a hexadecimal string'
      when pg_catalog.jsonb_typeof(item -> 'event_time') is distinct from 'string'
        or (item ->> 'event_time') operator(pg_catalog.!~)
          '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)$'
        then 'event_time must be an ISO 8601 time with a zone'
      when coalesce(pg_catalog.jsonb_typeof(item -> 'size'), 'null') not in ('null', 'number')
        or (item ->> 'size') operator(pg_catalog.!~) '^\d{1,15}$'
        then 'size must be a whole number of bytes'
      when coalesce(pg_catalog.jsonb_typeof(item -> 'etag'), 'null') not in ('null', 'string')
        or pg_catalog.length(item ->> 'etag') > 200
        then 'etag must be a string'
    end;
    if problem is not null then
      raise exception using
        errcode = '22023',
        message = pg_catalog.format('Cannot apply event %s: %s', element_number, problem);
    end if;
  end loop;

  -- One lock per key, in byte order, so two batches sharing keys cannot deadlock.
  perform pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('s3_image_cache event ' || k.key, 0)
  )
  from (
    select distinct (e.value ->> 'key') collate "C" as key
    from pg_catalog.jsonb_array_elements(s3_cache_apply_events.events) as e
    order by 1
  ) as k;

  for item in
    select e.value from pg_catalog.jsonb_array_elements(s3_cache_apply_events.events)
      with ordinality as e order by e.ordinality
  loop
    event_key := item ->> 'key';
    event_action := item ->> 'action';
    event_sequencer := pg_catalog.upper(nullif(item ->> 'sequencer', ''));
    happened_at := (item ->> 'event_time')::timestamptz;
    event_size := (item ->> 'size')::bigint;
    event_etag := nullif(pg_catalog.btrim(item ->> 'etag', '"'), '');
    outcome := null;
    reason := null;

    problem := public.s3_cache_filename_problem(event_key);
    if problem is not null then
      outcome := 'refused';
      reason := problem;
    end if;

    if outcome is null then
      select s.* into state
      from s3_image_cache_private.s3_cache_event_keys as s where s.key = event_key;
      if state.key is not null then
        if event_sequencer is not null and state.sequencer is not null then
          if s3_image_cache_private.s3_cache_sequencer_cmp(event_sequencer, state.sequencer) = 0
            and (event_action = state.action or happened_at < state.event_time) then
            -- S3 never gives two events one sequencer; a sender whose sequencer is a clock (the
            -- local emulator's is in milliseconds) may, for a put and a delete in the same tick:
            -- then the later time, or the later delivery, wins.
            outcome := 'ignored';
            reason := 'a repeat of the last event applied for this key';
          elsif s3_image_cache_private.s3_cache_sequencer_cmp(event_sequencer, state.sequencer) < 0 then
            outcome := 'ignored';
            reason := 'older than the last event applied for this key';
          end if;
        elsif happened_at < state.event_time
          or (happened_at = state.event_time and event_action = state.action) then
          outcome := 'ignored';
          reason := 'not newer than the last event applied for this key';
        end if;
      end if;
    end if;

    if outcome is null then
      select c.* into existing from public.s3_image_cache as c where c.filename = event_key for update;
      if existing.id is not null and existing.last_modified is not null
        and happened_at < existing.last_modified - tolerance then
        outcome := 'ignored';
        reason := 'older than the object the index holds';
      end if;
    end if;

    if outcome is null and event_action = 'created' and existing.id is null then
      select d.removed_at into removal_time
      from s3_image_cache_private.s3_cache_removals as d where d.filename = event_key;
      -- Only a removal by another door (after this key's last event) counts here: the removals
      -- events record carry the database's clock at delivery, which says nothing of S3's order.
      if removal_time is not null and happened_at < removal_time - tolerance
        and (state.key is null or state.applied_at < removal_time) then
        outcome := 'ignored';
        reason := 'older than its removal from the index';
      end if;
    end if;

    if outcome is null and event_action = 'created' then
      written := null;
      insert into public.s3_image_cache as c
        (filename, size_bytes, etag, content_type, last_modified, width, height)
      values (
        event_key, event_size, event_etag, public.s3_cache_content_type_for(event_key),
        happened_at, null, null
      )
      on conflict (filename) do update set
        size_bytes = excluded.size_bytes,
        etag = excluded.etag,
        content_type = excluded.content_type,
        last_modified = excluded.last_modified,
        width = case when c.etag = excluded.etag then c.width end,
        height = case when c.etag = excluded.etag then c.height end
      -- Re-checked on the row's latest version: an upload committed meanwhile wins.
      where c.last_modified is null or excluded.last_modified >= c.last_modified - tolerance
      returning c.filename into written;
      if written is null then
        outcome := 'ignored';
        reason := 'older than the object the index holds';
      else
        outcome := 'applied';
      end if;
    elsif outcome is null then
      written := null;
      delete from public.s3_image_cache as c
      where c.filename = event_key
        and (c.last_modified is null or c.last_modified <= happened_at + tolerance)
      returning c.filename into written;
      if written is null and exists (
        select 1 from public.s3_image_cache as c where c.filename = event_key
      ) then
        outcome := 'ignored';
        reason := 'older than the object the index holds';
      else
        insert into s3_image_cache_private.s3_cache_removals as r (filename, removed_at)
        values (event_key, pg_catalog.clock_timestamp())
        on conflict (filename) do update set removed_at = excluded.removed_at;
        if written is null then
          -- Remembered all the same (below): a later, older create must not bring it back.
          outcome := 'ignored';
          reason := 'not in the index';
          insert into s3_image_cache_private.s3_cache_event_keys as s
            (key, sequencer, event_time, action, applied_at)
          values (event_key, event_sequencer, happened_at, event_action, pg_catalog.clock_timestamp())
          on conflict (key) do update set
            sequencer = excluded.sequencer, event_time = excluded.event_time,
            action = excluded.action, applied_at = excluded.applied_at;
        else
          outcome := 'applied';
        end if;
      end if;
    end if;

    if outcome = 'applied' then
      insert into s3_image_cache_private.s3_cache_event_keys as s
        (key, sequencer, event_time, action, applied_at)
      values (event_key, event_sequencer, happened_at, event_action, pg_catalog.clock_timestamp())
      on conflict (key) do update set
        sequencer = excluded.sequencer, event_time = excluded.event_time,
        action = excluded.action, applied_at = excluded.applied_at;
      applied_count := applied_count + 1;
      last_key := event_key;
      last_action := event_action;
    elsif outcome = 'ignored' then
      ignored_count := ignored_count + 1;
    else
      refused_count := refused_count + 1;
    end if;
    outcomes := outcomes || pg_catalog.jsonb_build_object(
      'key', event_key, 'action', event_action, 'outcome', outcome, 'reason', reason
    );
  end loop;

  -- Bounded upkeep: key memories older than the window, at least as many as this batch may add.
  delete from s3_image_cache_private.s3_cache_event_keys as s
  where s.key in (
    select o.key from s3_image_cache_private.s3_cache_event_keys as o
    where o.applied_at < pg_catalog.clock_timestamp() - interval '7 days'
    order by o.applied_at
    limit greatest(100, 2 * pg_catalog.jsonb_array_length(s3_cache_apply_events.events))
  );

  -- The shared rows last, so the time another delivery on this stripe waits is only this commit's.
  if last_key is not null then
    insert into s3_image_cache_private.s3_cache_event_last as l (stripe, key, action, applied_at)
    values (pg_catalog.pg_backend_pid() % 16, last_key, last_action, pg_catalog.clock_timestamp())
    on conflict (stripe) do update set
      key = excluded.key, action = excluded.action, applied_at = excluded.applied_at;
  end if;
  perform s3_image_cache_private.s3_cache_count_events(
    applied_count, ignored_count, refused_count, 0
  );

  return pg_catalog.jsonb_build_object(
    'applied', applied_count,
    'ignored', ignored_count,
    'refused', refused_count,
    'events', outcomes
  );
end;
$$;
revoke all on function public.s3_cache_apply_events(jsonb, integer) from public, anon, authenticated;
grant execute on function public.s3_cache_apply_events(jsonb, integer) to service_role;

-- Counts one delivery the events route answered 400 (a body no sender shape matches): the sender
-- does not retry those, so the count is what tells an operator events are being lost.
--   select s3_cache_record_malformed_event();
create or replace function public.s3_cache_record_malformed_event()
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  select s3_image_cache_private.s3_cache_count_events(0, 0, 0, 1)
$$;
revoke all on function public.s3_cache_record_malformed_event() from public, anon, authenticated;
grant execute on function public.s3_cache_record_malformed_event() to service_role;

-- Live sync for the admin UI: {"last_applied": {"key", "action", "at"} | null, "last_hour":
-- {"applied", "ignored", "refused", "malformed"}}; the last hour is the current minute and the 59
-- before it. (The stats route adds "enabled", which only the function knows.)
--   select jsonb_pretty(s3_cache_live_sync_stats());
create or replace function public.s3_cache_live_sync_stats()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'last_applied', (
      select pg_catalog.jsonb_build_object('key', l.key, 'action', l.action, 'at', l.applied_at)
      from s3_image_cache_private.s3_cache_event_last as l
      order by l.applied_at desc
      limit 1
    ),
    'last_hour', (
      select pg_catalog.jsonb_build_object(
        'applied', coalesce(sum(c.applied), 0)::bigint,
        'ignored', coalesce(sum(c.ignored), 0)::bigint,
        'refused', coalesce(sum(c.refused), 0)::bigint,
        'malformed', coalesce(sum(c.malformed), 0)::bigint
      )
      from s3_image_cache_private.s3_cache_event_counts as c
      where c.minute >= pg_catalog.date_trunc('minute', pg_catalog.clock_timestamp())
        - interval '59 minutes'
    )
  )
$$;
revoke all on function public.s3_cache_live_sync_stats() from public, anon, authenticated;
grant execute on function public.s3_cache_live_sync_stats() to service_role;
