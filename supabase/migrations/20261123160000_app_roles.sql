-- The caller's app role, decided in one place for every row-level security policy and SQL check
-- that depends on it.
--
-- Why this exists: who may read what is decided by the caller's role, and the edge functions and
-- the database must mean the same thing by it: manager or admin from the JWT's
-- `app_metadata.role` (which only the server can set; `user_metadata` is the user's own to edit
-- and counts for nothing), service_role from the service key, anon from the anon key. A policy
-- that read the claims itself would repeat that rule, and copies drift. Following basejump
-- (`basejump.has_role_on_account`), policies call one private helper instead.
--
-- Safe to run again: the function is created here and nowhere else, with create or replace.

set client_min_messages = warning;

-- Whether the caller's app role is one of `roles`. The app role is read from the request's JWT
-- as the edge functions read it (`_shared/auth/authenticate.ts`): 'service_role' or 'anon' when
-- the token's role says so; else 'manager' or 'admin' when `app_metadata.role` says so; else
-- 'authenticated' (any other signed-in user). service_role counts only where it is listed: a
-- policy that means it says so. No claims (a direct connection), NULL or empty `roles`: false.
-- Read once per query when a policy wraps the call in a select (an InitPlan), not once per row.
--   create policy ... using ((select s3_image_cache_private.has_app_role(array['manager', 'admin'])));
create or replace function s3_image_cache_private.has_app_role(roles text[])
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce(
    case
      when j.claims ->> 'role' in ('service_role', 'anon') then j.claims ->> 'role'
      when j.claims -> 'app_metadata' ->> 'role' in ('manager', 'admin')
        then j.claims -> 'app_metadata' ->> 'role'
      when j.claims is not null then 'authenticated'
    end = any (has_app_role.roles),
    false
  )
  from (select auth.jwt() as claims) as j
$$;
revoke all on function s3_image_cache_private.has_app_role(text[]) from public, anon, authenticated;
-- Policies run their expressions with the caller's rights, so every API role may execute it; it
-- tells a caller only about their own claims. (A policy refers to the function by its OID, so the
-- roles need no USAGE on the private schema.)
grant execute on function s3_image_cache_private.has_app_role(text[])
  to anon, authenticated, service_role;
