-- The storefront's one question: which of these products have an image, and at which URL?
--
-- Why: the storefront used to call lookup_s3_cache with names it had to guess (`14000.jpg`? or
-- `.png`?) and then build each URL itself, percent-encoding the key and remembering to add a
-- version so a replaced image is not served from a CDN's cache. storefront_images answers with
-- product ids in, one row per product that has an image out: its key, a ready URL with the etag
-- as version (`…/14000.jpg?v=9b2c…`), the etag, and the size when known.
--
-- Where the base URL lives: in the storefront, passed as `base_url`. The CDN or public bucket URL
-- in front of the images is the storefront's own setting (staging and production differ, a shop
-- may move CDNs), the kit's function secret PUBLIC_IMAGE_BASE_URL is invisible to SQL, and a
-- settings row anon could read would need either a new readable table or a security definer
-- function; a parameter needs neither, so the function runs with the caller's rights under the
-- index's RLS and reaches nothing anon could not already select.
--
-- Safe to run again: `create or replace`, and the grants are idempotent.

-- One row per product with an image: the newest index row named `<key_prefix><id>.<extension>`
-- for an image extension (any case, as a rebuild indexes old keys like `14000.JPG`), with
-- `url = base_url + the percent-encoded key + ?v=<etag without quotes>` (the row's updated_at
-- when it has no etag). At most 1000 product ids a call, like lookup_s3_cache; nulls and empty
-- ids are ignored; ids are literal (`%` and `_` match themselves).
--   select * from storefront_images(array['14000', '14001'], 'https://cdn.example.com/products/');
create or replace function public.storefront_images(
  product_ids text[],
  base_url text,
  key_prefix text default ''
)
returns table (
  product_id text,
  filename text,
  url text,
  etag text,
  width integer,
  height integer
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  base text;
begin
  if pg_catalog.cardinality(storefront_images.product_ids) > 1000 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot look up more than 1000 products at once: got %s',
        pg_catalog.cardinality(storefront_images.product_ids)
      );
  end if;
  -- An http(s) URL without query or fragment: the key and the version are appended to it.
  if storefront_images.base_url is null
    or storefront_images.base_url !~ '^https?://[^/?#[:space:]]+(/[^?#[:space:]]*)?$' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'Cannot build storefront URLs: base_url must be an http(s) URL without query or fragment, got %s',
        coalesce(pg_catalog.quote_literal(pg_catalog.left(storefront_images.base_url, 80)), 'null')
      );
  end if;
  base := pg_catalog.rtrim(storefront_images.base_url, '/') || '/';
  return query
    with wanted as (
      select distinct ids.id, coalesce(storefront_images.key_prefix, '') || ids.id || '.' as stem
      from pg_catalog.unnest(storefront_images.product_ids) as ids (id)
      where ids.id is not null and ids.id <> ''
    ),
    found as (
      -- A byte-order range per product (every key starting with `14000.` sorts before
      -- `14000/`), so each id is one probe of s3_image_cache_filename_c_idx.
      select distinct on (w.id) w.id, c.filename::text as filename, c.etag, c.width, c.height,
        c.updated_at
      from wanted as w
      join public.s3_image_cache as c
        on (c.filename collate "C") >= (w.stem collate "C")
        and (c.filename collate "C") < ((pg_catalog.left(w.stem, -1) || '/') collate "C")
      where pg_catalog.substr(c.filename, pg_catalog.length(w.stem) + 1)
        ~* '^(jpg|jpeg|png|webp|gif|avif)$'
      order by w.id, c.updated_at desc, c.filename
    )
    select f.id, f.filename,
      base || (
        case when f.filename ~ '^[A-Za-z0-9._~-]+$' then f.filename
        else (
          -- encodeURIComponent's unreserved set, byte by byte of the UTF-8 form.
          select pg_catalog.string_agg(
            case when b.byte between 48 and 57 or b.byte between 65 and 90
              or b.byte between 97 and 122 or b.byte in (33, 39, 40, 41, 42, 45, 46, 95, 126)
            then pg_catalog.chr(b.byte)
            else '%' || pg_catalog.upper(pg_catalog.lpad(pg_catalog.to_hex(b.byte), 2, '0')) end,
            '' order by b.i)
          from (
            select g.i, pg_catalog.get_byte(pg_catalog.convert_to(f.filename, 'UTF8'), g.i) as byte
            from pg_catalog.generate_series(0, pg_catalog.octet_length(f.filename) - 1) as g (i)
          ) as b
        ) end
      ) || '?v=' || coalesce(
        nullif(pg_catalog.replace(f.etag, '"', ''), ''),
        pg_catalog.to_char(f.updated_at at time zone 'UTC', 'YYYYMMDD"T"HH24MISSUS')
      ),
      f.etag, f.width, f.height
    from found as f
    order by f.id;
end;
$$;
revoke all on function public.storefront_images(text[], text, text) from public, anon, authenticated;
grant execute on function public.storefront_images(text[], text, text) to service_role;
-- The storefront asks this question, signed in or not (through PostgREST: supabase.rpc).
grant execute on function public.storefront_images(text[], text, text) to anon, authenticated;
