-- s3_cache_stats for the admin UI's first screen: images by content type (count and bytes) and the
-- five newest images, newest first; the last rebuild names who started it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(5);

delete from s3_image_cache;
insert into s3_image_cache (filename, size_bytes, content_type) values
  ('t10-a.jpg', 100, 'image/jpeg'), ('t10-b.jpg', 50, 'image/jpeg'), ('t10-c.png', 7, 'image/png');
-- The trigger stamps every change with clock_timestamp(): change them in this order.
update s3_image_cache set etag = '"1"' where filename = 't10-a.jpg';
update s3_image_cache set etag = '"2"' where filename = 't10-c.png';
update s3_image_cache set etag = '"3"' where filename = 't10-b.jpg';

select is(s3_cache_stats() -> 'by_type',
  '{"image/jpeg": {"count": 2, "bytes": 150}, "image/png": {"count": 1, "bytes": 7}}'::jsonb,
  'by_type counts images and sums their bytes per content type');
select is(
  (select array_agg(e ->> 'filename') from jsonb_array_elements(s3_cache_stats() -> 'newest_images') as e),
  array['t10-b.jpg', 't10-c.png', 't10-a.jpg'],
  'newest_images lists the latest changes first');
select is(s3_cache_stats() -> 'newest' ->> 'filename', 't10-b.jpg', 'newest is the first of them');

delete from s3_image_cache;
select is(s3_cache_stats() -> 'newest_images', '[]'::jsonb, 'an empty index has no newest images');

select s3_cache_rebuild_cancel((s3_cache_rebuild_start('t10-admin@example.test') -> 'job' ->> 'id')::bigint);
select is(s3_cache_stats() -> 'last_rebuild' ->> 'started_by', 't10-admin@example.test',
  'the last rebuild names who started it');

select * from finish();
rollback;
