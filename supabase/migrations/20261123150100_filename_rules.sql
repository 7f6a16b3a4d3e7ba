-- The name rules: which object keys may be images in the index, the form a name is stored in,
-- the Content-Type its extension stands for, and the one shape of every name error.
--
-- Why this exists: a name reaches the index from three places (the file API, direct uploads
-- through the functions, and a rebuild's bucket listing), and all three must agree on it. The
-- rules live here once, as one set-based check (so a rebuild checks a whole listing in one pass);
-- the TypeScript side applies the same rules in the same words, and both run the corpus in
-- tests/corpus/filenames.tsv, so the two cannot drift apart.
--
-- Safe to run again: every function is created here and nowhere else, with create or replace.

set client_min_messages = warning;

-- The Content-Type for a name's extension, NULL for any other extension. The extension is what
-- follows the last dot, compared case-insensitively for ASCII letters only: lower-casing with the
-- server's locale would turn a Turkish dotted İ into an i, so `x.gİf` would pass.
--   select s3_cache_content_type_for('14000.JPG');  -- image/jpeg
create or replace function public.s3_cache_content_type_for(filename text)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  -- The one place that maps extensions to types. Plain string functions: finish calls this for
  -- every row it writes (3 µs a call, against 75 µs when it went through the full name check).
  select case pg_catalog.translate(
      pg_catalog.split_part($1, '.', -1), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
    when 'jpg' then 'image/jpeg'
    when 'jpeg' then 'image/jpeg'
    when 'png' then 'image/png'
    when 'webp' then 'image/webp'
    when 'gif' then 'image/gif'
    when 'avif' then 'image/avif'
  end
  where pg_catalog.strpos($1, '.') > 0
$$;
revoke all on function public.s3_cache_content_type_for(text) from public, anon, authenticated;
grant execute on function public.s3_cache_content_type_for(text) to service_role;

-- The stored form of a name: its NFC form with the extension (after the last dot) lower-cased in
-- ASCII (`Café.JPG` → `Café.jpg`, whichever way é was composed). Plain string functions, no rule
-- check. (lookup_s3_cache spells the same expression out: it runs as the storefront's roles, which
-- may not use this schema; 03_lookup_search_stats.test.sql holds the two alike.)
--   select s3_image_cache_private.s3_cache_stored_form('14000.JPG');  -- 14000.jpg
create or replace function s3_image_cache_private.s3_cache_stored_form(filename text)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select case
    when pg_catalog.strpos(f.nfc, '.') = 0 then f.nfc
    else pg_catalog.left(f.nfc, -pg_catalog.length(pg_catalog.split_part(f.nfc, '.', -1)))
      || pg_catalog.translate(pg_catalog.split_part(f.nfc, '.', -1),
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
  end
  from (select pg_catalog.normalize($1, 'NFC') as nfc) as f
$$;
revoke all on function s3_image_cache_private.s3_cache_stored_form(text) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_stored_form(text) to service_role;

-- Whether a name mixes letters of scripts that must not mix (UTS #39 mixed-script detection at
-- its "highly restrictive" level): two or more scripts, other than Latin with the scripts of
-- Japanese, Chinese or Korean (s3_cache_scripts_may_mix). Common characters (digits, spaces,
-- punctuation, symbols) and Inherited ones (combining marks) count for no script. Each character's
-- script comes from s3_cache_script_ranges, one index probe a character.
--   select s3_image_cache_private.s3_cache_mixes_scripts(U&'14\0430\0430.png');  -- false (Cyrillic)
create or replace function s3_image_cache_private.s3_cache_mixes_scripts(filename text)
returns boolean
language sql
stable
parallel safe
security invoker
set search_path = ''
as $$
  select pg_catalog.cardinality(u.scripts) > 1
    and not s3_image_cache_private.s3_cache_scripts_may_mix(u.scripts)
  from (
    select coalesce(pg_catalog.array_agg(distinct r.script), '{}'::text[]) as scripts
    from pg_catalog.string_to_table($1, null) as c (ch)
    join lateral (
      select x.script, x.last_code_point
      from s3_image_cache_private.s3_cache_script_ranges as x
      where x.first_code_point <= pg_catalog.ascii(c.ch)
      order by x.first_code_point desc
      limit 1
    ) as r on r.last_code_point >= pg_catalog.ascii(c.ch)
  ) as u
$$;
revoke all on function s3_image_cache_private.s3_cache_mixes_scripts(text) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_mixes_scripts(text) to service_role;

-- Checks many names at once, in one pass of plain expressions, so the rules live here once
-- instead of in a per-row function call. Every rule applies to the name's NFC form, which is the
-- form we store. problem is NULL for a valid name, else the first broken rule, in this order:
--   empty; longer than 255 bytes in UTF-8 (a direct upload stages the bytes at
--   `_incoming/<uuid>/<size>/<name>`, at most 60 bytes more, far inside S3's 1,024-byte keys;
--   255 bytes also fit varchar(255)); path segments (/ \ ..); a leading dot; control characters
--   (C0 U+0001-U+001F, DEL, C1 U+0080-U+009F; Postgres text cannot hold U+0000); bidirectional
--   controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C); zero-width characters
--   (U+200B-U+200D, U+2060, U+FEFF); other invisible characters (Unicode's
--   Default_Ignorable_Code_Point, U+2028, U+2029: s3_cache_invisible_characters); leading or
--   trailing whitespace (JavaScript's trim() set); letters of scripts that must not mix before
--   the last dot (s3_cache_mixes_scripts); extension after the last dot (ASCII letters, any case).
-- (The TypeScript rules also refuse an unpaired surrogate first; Postgres text cannot hold one.)
-- normalized is the name as it is stored (s3_cache_stored_form) when it is valid; content_type
-- comes from the extension alone. Stable, not immutable: the script check reads a table.
create or replace function s3_image_cache_private.s3_cache_check_filenames(filenames text[])
returns table (
  ordinality bigint,
  filename text,
  problem text,
  normalized text,
  content_type text
)
language sql
stable
parallel safe
security invoker
set search_path = ''
as $$
  select
    n.ordinality,
    n.name,
    r.problem,
    case when r.problem is null then s3_image_cache_private.s3_cache_stored_form(n.name) end,
    t.content_type
  from pg_catalog.unnest(filenames) with ordinality as n (name, ordinality)
  cross join lateral (
    select
      pg_catalog.normalize(n.name, 'NFC') as nfc
  ) as f
  cross join lateral (select public.s3_cache_content_type_for(f.nfc) as content_type) as t
  cross join lateral (
    select case
      when f.nfc is null or f.nfc = '' then 'the name is empty'
      when pg_catalog.octet_length(f.nfc) > 255 then 'the name is longer than 255 bytes'
      when pg_catalog.strpos(f.nfc, '/') > 0
        or pg_catalog.strpos(f.nfc, '\') > 0
        or pg_catalog.strpos(f.nfc, '..') > 0 then 'path segments are not allowed'
      when pg_catalog.left(f.nfc, 1) = '.' then 'the name must not start with a dot'
      when f.nfc operator(pg_catalog.~) '[\x01-\x1f\x7f-\x9f]'
        then 'control characters are not allowed'
      when f.nfc operator(pg_catalog.~) '[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]'
        then 'bidirectional control characters are not allowed'
      when f.nfc operator(pg_catalog.~) '[\u200b-\u200d\u2060\ufeff]'
        then 'zero-width characters are not allowed'
      when f.nfc operator(pg_catalog.~) s3_image_cache_private.s3_cache_invisible_characters()
        then 'invisible characters are not allowed'
      -- First or last character in JavaScript's whitespace set (what String.prototype.trim()
      -- removes; tab, CR, LF and U+FEFF are refused above already).
      when pg_catalog.strpos(
          U&' \00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000',
          pg_catalog.left(f.nfc, 1)) > 0
        or pg_catalog.strpos(
          U&' \00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000',
          pg_catalog.right(f.nfc, 1)) > 0
        then 'leading or trailing spaces are not allowed'
      -- Only a name with a non-ASCII character can hold letters of two scripts.
      -- The extension is left out (ASCII Latin by the next rule: a Greek name keeps its .jpg).
      when f.nfc operator(pg_catalog.~) '[^\x01-\x7f]'
        and s3_image_cache_private.s3_cache_mixes_scripts(
          pg_catalog.regexp_replace(f.nfc, '\.[^.]*$', ''))
        then 'letters from different scripts must not be mixed'
      when t.content_type is null
        then 'only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed'
    end as problem
  ) as r
$$;
revoke all on function s3_image_cache_private.s3_cache_check_filenames(text[]) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_check_filenames(text[]) to service_role;

-- Why a name cannot be an object in the cache: NULL when it is valid, else one of the messages
-- listed on s3_image_cache_private.s3_cache_check_filenames.
--   select s3_cache_filename_problem('a/../b.jpg');  -- path segments are not allowed
create or replace function public.s3_cache_filename_problem(filename text)
returns text
language sql
stable
parallel safe
security invoker
set search_path = ''
as $$
  select c.problem from s3_image_cache_private.s3_cache_check_filenames(array[$1]) as c
$$;
revoke all on function public.s3_cache_filename_problem(text) from public, anon, authenticated;
grant execute on function public.s3_cache_filename_problem(text) to service_role;

-- The name as the index stores it (s3_cache_stored_form: NFC, extension in lower case, so
-- `Café.JPG` → `Café.jpg` whichever way é was composed); NULL when the rules refuse it.
-- Uploads and the add functions store this form, so one picture has one key.
--   select s3_cache_normalize_filename('14000.JPG');  -- 14000.jpg
create or replace function public.s3_cache_normalize_filename(filename text)
returns text
language sql
stable
parallel safe
security invoker
set search_path = ''
as $$
  select c.normalized from s3_image_cache_private.s3_cache_check_filenames(array[$1]) as c
$$;
revoke all on function public.s3_cache_normalize_filename(text) from public, anon, authenticated;
grant execute on function public.s3_cache_normalize_filename(text) to service_role;

-- `Cannot <verb> file "<name>": <problem>`, the one shape of every name error. A name over the
-- length limit is cut to its first 40 characters and an ellipsis so the message stays readable.
create or replace function s3_image_cache_private.s3_cache_file_error(verb text, filename text, problem text)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select pg_catalog.format(
    'Cannot %s file "%s": %s',
    $1,
    case
      when pg_catalog.octet_length($2) > 255 then pg_catalog.left($2, 40) || '…'
      else coalesce($2, '')
    end,
    $3
  )
$$;
revoke all on function s3_image_cache_private.s3_cache_file_error(text, text, text) from public, anon, authenticated;
grant execute on function s3_image_cache_private.s3_cache_file_error(text, text, text) to service_role;
