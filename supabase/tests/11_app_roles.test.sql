-- s3_image_cache_private.has_app_role, the one place SQL decides by the caller's app role: each
-- kind of caller (anon, a signed-in user without a role, manager, admin, service_role) has
-- exactly its role; a role in user_metadata, or service_role in app_metadata, counts for nothing;
-- service_role counts only where it is listed; and every policy that decides by app role asks it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(25);

-- pgTAP's functions must stay callable while a test runs as anon or authenticated.
grant execute on all functions in schema extensions to anon, authenticated, service_role;

-- No policy reads the claims itself -----------------------------------------------------------
select is_empty(
  $$select p.polname from pg_catalog.pg_policy as p
    where pg_catalog.pg_get_expr(p.polqual, p.polrelid) ~ '(jwt|app_metadata|current_setting)'
      and pg_catalog.pg_get_expr(p.polqual, p.polrelid) !~ 's3_image_cache_private\.has_app_role'$$,
  'no policy reads the JWT claims except through has_app_role'
);
select matches(
  (select pg_catalog.pg_get_expr(p.polqual, p.polrelid) from pg_catalog.pg_policy as p
   where p.polname = 'Managers and admins can read rebuild jobs'),
  '^\( SELECT s3_image_cache_private\.has_app_role\(ARRAY\[''manager''::text, ''admin''::text\]\)',
  'the rebuild jobs policy asks has_app_role for manager or admin, once per query'
);

update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
insert into s3_cache_rebuilds (mode, status, started_by) values ('rebuild', 'cancelled', 't11');

-- Through the policy, as the API roles use it: no USAGE on the private schema is needed.
set local role authenticated;
set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000011", "app_metadata": {"role": "manager"}}';
select ok(
  not has_schema_privilege('s3_image_cache_private', 'usage')
    and (select count(*) from s3_cache_rebuilds where started_by = 't11') = 1,
  'a manager reads a job through the policy without USAGE on the private schema'
);
reset role;

-- The helper's answers, caller by caller -----------------------------------------------------
-- Called by name here, which needs USAGE on the schema; granted only inside this transaction.
grant usage on schema s3_image_cache_private to anon, authenticated;

set local role anon;
set local request.jwt.claims to '{"role": "anon"}';
select is(s3_image_cache_private.has_app_role(array['anon']), true, 'anon has the role anon');
select is(s3_image_cache_private.has_app_role(array['authenticated', 'manager', 'admin']), false,
  'anon is neither signed in nor a manager or admin');
reset role;

set local role authenticated;
set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000011"}';
select is(s3_image_cache_private.has_app_role(array['authenticated']), true,
  'a signed-in user without a role has the role authenticated');
select is(s3_image_cache_private.has_app_role(array['manager', 'admin']), false,
  'a signed-in user without a role is neither manager nor admin');
set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000011", "app_metadata": {"role": "editor"}}';
select is(s3_image_cache_private.has_app_role(array['authenticated']), true,
  'an app role the kit does not know counts as a plain signed-in user');
set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000011", "user_metadata": {"role": "admin"}}';
select is(s3_image_cache_private.has_app_role(array['manager', 'admin']), false,
  'a role in user_metadata (which users edit themselves) counts for nothing');
select is(s3_image_cache_private.has_app_role(array['authenticated']), true,
  'a user who wrote admin into user_metadata is still a plain signed-in user');
set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000011", "app_metadata": {"role": "service_role"}}';
select is(s3_image_cache_private.has_app_role(array['service_role']), false,
  'service_role in app_metadata does not make a user service_role');

set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000011", "app_metadata": {"role": "manager"}}';
select is(s3_image_cache_private.has_app_role(array['manager', 'admin']), true,
  'a manager is a manager or admin');
select is(s3_image_cache_private.has_app_role(array['admin']), false, 'a manager is not an admin');
select is(s3_image_cache_private.has_app_role(array['authenticated']), false,
  'a manager does not count as a plain signed-in user');

set local request.jwt.claims to
  '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000011", "app_metadata": {"role": "admin"}}';
select is(s3_image_cache_private.has_app_role(array['manager', 'admin']), true,
  'an admin is a manager or admin');
select is(s3_image_cache_private.has_app_role(array['admin']), true, 'an admin is an admin');
select is(s3_image_cache_private.has_app_role(array['manager']), false, 'an admin is not a manager');
select is(s3_image_cache_private.has_app_role(null), false, 'no roles listed: nobody has one');
select is(s3_image_cache_private.has_app_role(array[]::text[]), false,
  'an empty list: nobody has one');
reset role;

set local role service_role;
set local request.jwt.claims to '{"role": "service_role"}';
select is(s3_image_cache_private.has_app_role(array['service_role']), true,
  'the service key has the role service_role');
select is(s3_image_cache_private.has_app_role(array['manager', 'admin']), false,
  'service_role counts only where it is listed');
select is(s3_image_cache_private.has_app_role(array['admin', 'service_role']), true,
  'a list that names service_role admits it');
select is(s3_image_cache_private.has_app_role(array['authenticated']), false,
  'the service key is not a signed-in user');
reset role;

-- No claims at all: a direct connection, or psql.
set local request.jwt.claims to '';
select is(s3_image_cache_private.has_app_role(array['anon', 'authenticated', 'manager', 'admin']),
  false, 'without claims the caller has no app role');
select is(s3_image_cache_private.has_app_role(array['service_role']), false,
  'without claims the caller is not service_role either');

select * from finish();
rollback;
