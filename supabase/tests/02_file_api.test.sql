-- The name rules and the single-file API: s3_cache_filename_problem, s3_cache_content_type_for,
-- add_file_to_s3_cache, add_files_to_s3_cache, remove_file_from_s3_cache. Every rule is checked
-- by its exact message, in each function that reports it.
begin;
create extension if not exists pgtap with schema extensions;
-- Hosted Supabase has extensions on the search_path already; a bare cluster does not.
set local search_path = public, extensions;
select plan(67);

-- One row per rule, in the order the rules are checked, each with a name that breaks only it
-- (and, for the order, the first rule it breaks).
create temp table t02_bad_names (name text, problem text, shown text) on commit drop;
insert into t02_bad_names values
  (null, 'the name is empty', ''),
  ('', 'the name is empty', ''),
  (repeat('x', 252) || '.jpg', 'the name is longer than 255 bytes', repeat('x', 40) || '…'),
  ('a/b.jpg', 'path segments are not allowed', 'a/b.jpg'),
  ('a\b.jpg', 'path segments are not allowed', 'a\b.jpg'),
  ('..jpg', 'path segments are not allowed', '..jpg'),
  ('a' || chr(9) || 'b.jpg', 'control characters are not allowed', 'a' || chr(9) || 'b.jpg'),
  ('a' || chr(127) || '.jpg', 'control characters are not allowed', 'a' || chr(127) || '.jpg'),
  (' a.jpg', 'leading or trailing spaces are not allowed', ' a.jpg'),
  ('a.jpg ', 'leading or trailing spaces are not allowed', 'a.jpg '),
  (chr(160) || 'a.jpg', 'leading or trailing spaces are not allowed', chr(160) || 'a.jpg'),
  ('a.svg', 'only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed', 'a.svg'),
  ('a.jpg.exe', 'only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed', 'a.jpg.exe'),
  ('jpg', 'only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed', 'jpg');

-- s3_cache_filename_problem: one test per bad name, then valid names.
select is(s3_cache_filename_problem(b.name), b.problem,
  format('s3_cache_filename_problem(%s) = %s', coalesce(quote_literal(left(b.name, 12)), 'null'),
    b.problem))
from t02_bad_names as b;
select is(s3_cache_filename_problem('/' || repeat('x', 300)), 'the name is longer than 255 bytes',
  'length is checked before path segments');
select is(s3_cache_filename_problem(' a/b.svg'), 'path segments are not allowed',
  'path segments are checked before spaces and extension');
select is(s3_cache_filename_problem(repeat('x', 251) || '.jpg'), null,
  'a 255-character name is valid');
select is(s3_cache_filename_problem(repeat('é', 126) || '.jpg'), 'the name is longer than 255 bytes',
  'the limit counts UTF-8 bytes: 130 characters of 256 bytes are too long');
select is(s3_cache_filename_problem(repeat('é', 125) || 'x.jpg'), null,
  'a name of exactly 255 bytes is valid');
select is(
  (select array_agg(s3_cache_filename_problem(n)) filter (where s3_cache_filename_problem(n) is not null)
   from unnest(array['14000.jpg', 'A.JPEG', 'b.png', 'c.WebP', 'd.gif', 'e.avif', 'produkt ä.jpg']) as n),
  null, 'every allowed extension in any case, inner spaces and non-ASCII letters are valid');

select is(s3_cache_content_type_for('a.JPG'), 'image/jpeg', 'content type of .JPG');
select is(s3_cache_content_type_for('a.jpeg'), 'image/jpeg', 'content type of .jpeg');
select is(
  array[s3_cache_content_type_for('a.png'), s3_cache_content_type_for('a.webp'),
    s3_cache_content_type_for('a.gif'), s3_cache_content_type_for('a.AVIF')],
  array['image/png', 'image/webp', 'image/gif', 'image/avif'],
  'content types of .png, .webp, .gif, .avif');
select is(s3_cache_content_type_for('a.svg'), null, 'no content type for other extensions');

-- add_file_to_s3_cache: a message, never an exception, for each broken rule.
select is(add_file_to_s3_cache(b.name), format('Cannot add file "%s": %s', b.shown, b.problem),
  format('add_file_to_s3_cache(%s) explains: %s', coalesce(quote_literal(left(b.name, 12)), 'null'),
    b.problem))
from t02_bad_names as b;
select is(add_file_to_s3_cache('t02-a.jpg', size_bytes => -1),
  'Cannot add file "t02-a.jpg": the size must not be negative', 'a negative size is refused');
select is(add_file_to_s3_cache('t02-a.jpg', width => 0, height => 10),
  'Cannot add file "t02-a.jpg": the width must be a positive number', 'a zero width is refused');
select is(add_file_to_s3_cache('t02-a.jpg', width => 10, height => -5),
  'Cannot add file "t02-a.jpg": the height must be a positive number', 'a negative height is refused');
select is((select count(*)::int from s3_image_cache where filename = 't02-a.jpg'), 0,
  'refused adds leave no row');

select is(add_file_to_s3_cache('t02-a.jpg'), 'SUCCESS', 'the seed call with one literal succeeds');
select results_eq(
  $$select size_bytes, etag, content_type, width from s3_image_cache where filename = 't02-a.jpg'$$,
  $$values (null::bigint, null::text, 'image/jpeg'::text, null::int)$$,
  'a bare add derives content_type from the extension'
);
select is(
  add_file_to_s3_cache(filename => 't02-a.jpg', size_bytes => 1234, etag => '"e1"',
    last_modified => '2026-01-02 03:04:05+00', width => 800, height => 600),
  'SUCCESS', 'named arguments work');
create temp table t02_before on commit drop as
  select updated_at from s3_image_cache where filename = 't02-a.jpg';
select is(add_file_to_s3_cache('t02-a.jpg', etag => '"e2"'), 'SUCCESS', 're-adding succeeds');
select results_eq(
  $$select size_bytes, etag, content_type, last_modified, width, height
    from s3_image_cache where filename = 't02-a.jpg'$$,
  $$values (1234::bigint, '"e2"'::text, 'image/jpeg'::text,
    '2026-01-02 03:04:05+00'::timestamptz, 800, 600)$$,
  're-adding overwrites given metadata and keeps the rest'
);
select cmp_ok((select updated_at from s3_image_cache where filename = 't02-a.jpg'), '>',
  (select updated_at from t02_before), 're-adding refreshes updated_at');
select is(add_file_to_s3_cache('t02-b.png', content_type => 'image/x-custom'), 'SUCCESS',
  'an explicit content_type is accepted');
select is((select content_type from s3_image_cache where filename = 't02-b.png'), 'image/x-custom',
  'an explicit content_type wins over the extension');

-- Names are stored in one form: NFC, extension in lower case.
select is(add_file_to_s3_cache(U&'t02-Cafe\0301.JPG'), 'SUCCESS', 'a decomposed name with an upper-case extension is added');
select is(
  (select array_agg(filename::text) from s3_image_cache where filename like 't02-Caf%'),
  array[U&'t02-Caf\00e9.jpg'], 'it is stored as its NFC form with the extension in lower case');
select is(add_file_to_s3_cache(U&'t02-Caf\00e9.jpg'), 'SUCCESS', 'the composed form adds the same file');
select is((select count(*)::int from s3_image_cache where filename like 't02-Caf%'), 1,
  'one picture has one key, however its name was written');
select is(remove_file_from_s3_cache(U&'t02-Cafe\0301.JPG'), 'SUCCESS',
  'removing by another spelling of the name finds the stored form');
select is(add_files_to_s3_cache(array['t02-N.PNG', 't02-N.png']), 1,
  'add_files_to_s3_cache stores names in their stored form and counts one file once');

-- add_files_to_s3_cache: all or nothing, counting only new names.
select is(add_files_to_s3_cache(array['t02-c.jpg', 't02-d.webp', 't02-c.jpg', 't02-a.jpg']), 2,
  'add_files_to_s3_cache counts new names once; duplicates and existing names are not new');
select is(add_files_to_s3_cache(array[]::text[]), 0, 'an empty array adds nothing');
select throws_ok(
  format('select add_files_to_s3_cache(array[%L, %L, %L])', 't02-e.jpg', 'x/y.jpg', 'z.svg'),
  '22023', 'Cannot add file "x/y.jpg": path segments are not allowed',
  'add_files_to_s3_cache raises for the first invalid name');
select throws_ok(
  format('select add_files_to_s3_cache(array[%L, %L])', 't02-e.jpg', repeat('y', 300)),
  '22023', 'Cannot add file "' || repeat('y', 40) || '…": the name is longer than 255 bytes',
  'add_files_to_s3_cache quotes only the start of an over-long name');
select is((select count(*)::int from s3_image_cache where filename = 't02-e.jpg'), 0,
  'a refused batch adds nothing');
select throws_ok(
  $$select add_files_to_s3_cache(array['t02-e.jpg', 'a.jpg '])$$,
  '22023', 'Cannot add file "a.jpg ": leading or trailing spaces are not allowed',
  'add_files_to_s3_cache refuses trailing spaces');

-- remove_file_from_s3_cache
select is(remove_file_from_s3_cache('t02-c.jpg'), 'SUCCESS', 'remove_file_from_s3_cache removes');
select is((select count(*)::int from s3_image_cache where filename = 't02-c.jpg'), 0,
  'the removed row is gone');
select is(remove_file_from_s3_cache('t02-c.jpg'),
  'Cannot remove file "t02-c.jpg": it is not in the cache', 'removing an absent file explains');
select is(remove_file_from_s3_cache('../etc.jpg'),
  'Cannot remove file "../etc.jpg": path segments are not allowed',
  'removing an invalid name explains');
select is(remove_file_from_s3_cache(null), 'Cannot remove file "": the name is empty',
  'removing a null name explains');

select * from finish();
rollback;
