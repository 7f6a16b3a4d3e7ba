-- storefront_images, as the storefront calls it: anon, product ids in, the products that have an
-- image out with a ready URL (etag as version). It answers only what the index holds, under the
-- caller's own rights, and reaches nothing else.
begin;
create extension if not exists pgtap with schema extensions;
-- Hosted Supabase has extensions on the search_path already; a bare cluster does not.
set local search_path = public, extensions;
select plan(22);

-- pgTAP's own functions must stay callable while the test runs as anon (hosted grants this).
grant execute on all functions in schema extensions to anon, authenticated, service_role;

insert into s3_image_cache (filename, etag, width, height, updated_at) values
  ('t12-1.jpg', '"e1"', 800, 600, now()),
  ('t12-2.png', '"old"', null, null, now()),
  ('t12-2.webp', '"new"', null, null, now()),
  ('t12-2.old.jpg', '"lookalike"', null, null, now()),
  ('t12-3.JPG', '"upper"', null, null, now()),
  (U&'t12 \00E9<b>&.jpg', '"enc"', null, null, now()),
  ('shop-t12-5.gif', '"p"', null, null, now()),
  ('t12-6.avif', null, null, null, now()),
  ('t12-7.jpg.bak', '"bak"', null, null, now());
-- The trigger stamps updated_at with clock_timestamp(), so later writes are newer: make the
-- .webp the newest of t12-2's real images and the lookalike newer still.
update s3_image_cache set etag = '"new"' where filename = 't12-2.webp';
update s3_image_cache set etag = '"lookalike"' where filename = 't12-2.old.jpg';

-- The function's own shape: invoker rights, empty search_path.
select is(
  (select p.prosecdef from pg_proc as p where p.oid = 'public.storefront_images(text[], text, text)'::regprocedure),
  false, 'storefront_images runs with the caller''s rights (security invoker)');
select ok(
  (select 'search_path=""' = any (p.proconfig) from pg_proc as p
   where p.oid = 'public.storefront_images(text[], text, text)'::regprocedure),
  'storefront_images pins search_path to empty');

set local role anon;
set local request.jwt.claims to '{"role": "anon"}';

select results_eq(
  $$select product_id, filename, url, etag, width, height from storefront_images(
      array['t12-1', 't12-missing', 't12-1', null, ''], 'https://cdn.example.com/products/')$$,
  $$values ('t12-1'::text, 't12-1.jpg'::text, 'https://cdn.example.com/products/t12-1.jpg?v=e1'::text,
            '"e1"'::text, 800, 600)$$,
  'anon gets one row per product that has an image: key, URL with the etag as version, size');
select is(
  (select filename from storefront_images(array['t12-2'], 'https://cdn.example.com/')),
  't12-2.webp', 'the newest of a product''s images wins, and a lookalike key (t12-2.old.jpg) is not its image');
select is(
  (select url from storefront_images(array['t12-3'], 'https://cdn.example.com')),
  'https://cdn.example.com/t12-3.JPG?v=upper',
  'an old upper-case extension is still the product''s image; a missing slash is added');
select is(
  (select url from storefront_images(array[U&'t12 \00E9<b>&'], 'https://cdn.example.com/')),
  'https://cdn.example.com/t12%20%C3%A9%3Cb%3E%26.jpg?v=enc',
  'the key is percent-encoded as encodeURIComponent does (spaces, UTF-8, markup)');
select is(
  (select filename from storefront_images(array['t12-5'], 'https://cdn.example.com/', 'shop-')),
  'shop-t12-5.gif', 'key_prefix: the same rule as the components'' key-prefix attribute');
select is_empty(
  $$select * from storefront_images(array['t12-5'], 'https://cdn.example.com/')$$,
  'without the prefix the prefixed key is not the product''s');
select matches(
  (select url from storefront_images(array['t12-6'], 'https://cdn.example.com/')),
  '^https://cdn\.example\.com/t12-6\.avif\?v=\d{8}T\d{12}$',
  'a row without an etag is versioned by its updated_at');
select is_empty(
  $$select * from storefront_images(array['t12-7', 't12-%', 't12-_', 't12'], 'https://cdn.example.com/')$$,
  'no image extension, no match; % and _ are literal; a shorter id is not a prefix match');
select is_empty(
  $$select * from storefront_images(array[]::text[], 'https://cdn.example.com/')$$,
  'no products, no rows');
select lives_ok(
  $$select * from storefront_images(array(select 'n' || g from generate_series(1, 1000) as g), 'https://cdn.example.com/')$$,
  'storefront_images takes 1000 products');
select throws_ok(
  $$select * from storefront_images(array(select 'n' || g from generate_series(1, 1001) as g), 'https://cdn.example.com/')$$,
  '22023', 'Cannot look up more than 1000 products at once: got 1001',
  'storefront_images refuses more than 1000 products, as lookup_s3_cache refuses 1000 names');
select throws_ok(
  $$select * from storefront_images(array['t12-1'], 'javascript:alert(1)//')$$,
  '22023',
  'Cannot build storefront URLs: base_url must be an http(s) URL without query or fragment, got ''javascript:alert(1)//''',
  'a base URL that is not http(s) is refused');
select throws_ok(
  $$select * from storefront_images(array['t12-1'], 'https://cdn.example.com/?sig=1')$$,
  '22023',
  'Cannot build storefront URLs: base_url must be an http(s) URL without query or fragment, got ''https://cdn.example.com/?sig=1''',
  'a base URL with a query is refused (the version is the query)');
select throws_ok(
  $$select * from storefront_images(array['t12-1'], null)$$,
  '22023',
  'Cannot build storefront URLs: base_url must be an http(s) URL without query or fragment, got null',
  'no base URL is refused');

-- Nothing else is reachable: anon still reads no job, no staging, no private helper.
select throws_ok($$select * from s3_cache_rebuilds$$, '42501',
  'permission denied for table s3_cache_rebuilds', 'anon still cannot read rebuild jobs');
select throws_ok($$select s3_image_cache_private.s3_cache_file_error('add', 'x', 'y')$$, '42501',
  'permission denied for schema s3_image_cache_private', 'anon still cannot reach the private schema');
select throws_ok($$select s3_cache_normalize_filename('x.jpg')$$, '42501',
  'permission denied for function s3_cache_normalize_filename',
  'anon still cannot call the DBA functions');
reset role;

-- It reads with the caller's rights: take anon's select on the index away and it has nothing.
revoke select on public.s3_image_cache from anon;
set local role anon;
select throws_ok(
  $$select * from storefront_images(array['t12-1'], 'https://cdn.example.com/')$$,
  '42501', 'permission denied for table s3_image_cache',
  'without select on the index, anon gets nothing through storefront_images');
reset role;
grant select on public.s3_image_cache to anon;

-- authenticated (a signed-in shopper) asks the same question.
set local role authenticated;
set local request.jwt.claims to '{"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000012"}';
select is(
  (select count(*)::int from storefront_images(array['t12-1', 't12-2'], 'https://cdn.example.com/')),
  2, 'authenticated calls storefront_images too');
reset role;

-- service_role and DBAs likewise (the owner needs no grant).
select is(
  (select count(*)::int from storefront_images(array['t12-1'], 'https://cdn.example.com/')),
  1, 'the owner calls it in psql');

select * from finish();
rollback;
