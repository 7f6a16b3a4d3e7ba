-- Each worker invocation says which clocks its budget read.
--
-- Why: Supabase's hosted edge runtime reports no CPU time (`process.cpuUsage` is missing from its
-- Node polyfill), so a worker budgets on wall time and work done (pages, keys) and reads CPU time
-- only where the runtime has it. An invocation entry now carries `clocks` (`["wall","work"]` or
-- `["cpu","wall","work"]`), and `cpu_ms` is null when CPU was not measured, so nobody mistakes
-- "not measured" for "free". The five-argument form stays for workers deployed before this.
--
-- Safe to run again: the function is created in its final form with `create or replace`.

set client_min_messages = warning;

-- Appends one worker invocation's cost to the job's invocations ({cpu_ms, wall_ms, pages, keys,
-- clocks, at}). `cpu_ms` must be null exactly when `clocks` lacks 'cpu'; `clocks` must hold
-- 'wall' and 'work' and nothing but 'cpu', 'wall', 'work'.
--   select s3_cache_rebuild_record_invocation(7, null, 9400, 12, 12000, array['wall','work']);
create or replace function public.s3_cache_rebuild_record_invocation(
  job_id bigint,
  cpu_ms numeric,
  wall_ms numeric,
  pages integer,
  keys integer,
  clocks text[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  given text[] := s3_cache_rebuild_record_invocation.clocks;
begin
  if given is null
    or not given <@ array['cpu', 'wall', 'work']
    or not given @> array['wall', 'work']
    or pg_catalog.array_position(given, null) is not null then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot record an invocation with clocks %s: expected {wall,work} or {cpu,wall,work}',
        coalesce(given::text, 'null')
      );
  end if;
  if (s3_cache_rebuild_record_invocation.cpu_ms is null) = ('cpu' = any (given)) then
    raise exception using
      errcode = '22023',
      message = 'Cannot record an invocation: cpu_ms must be given exactly when the cpu clock was read';
  end if;
  update public.s3_cache_rebuilds as r
  set invocations = r.invocations || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
    'cpu_ms', s3_cache_rebuild_record_invocation.cpu_ms,
    'wall_ms', s3_cache_rebuild_record_invocation.wall_ms,
    'pages', s3_cache_rebuild_record_invocation.pages,
    'keys', s3_cache_rebuild_record_invocation.keys,
    'clocks', pg_catalog.to_jsonb(
      array(select c from pg_catalog.unnest(given) as c group by c order by c)
    ),
    'at', pg_catalog.clock_timestamp()
  ))
  where r.id = s3_cache_rebuild_record_invocation.job_id;
  if not found then
    raise exception using
      errcode = 'P0002',
      message = pg_catalog.format(
        'Rebuild %s does not exist', s3_cache_rebuild_record_invocation.job_id
      );
  end if;
end;
$$;
revoke all on function public.s3_cache_rebuild_record_invocation(bigint, numeric, numeric, integer, integer, text[]) from public, anon, authenticated;
grant execute on function public.s3_cache_rebuild_record_invocation(bigint, numeric, numeric, integer, integer, text[]) to service_role;
