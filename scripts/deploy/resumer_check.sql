select
  (select s.decrypted_secret from vault.decrypted_secrets as s
   where s.name = 's3_image_cache_project_url') as project_url,
  exists (select from vault.decrypted_secrets as s
          where s.name = 's3_image_cache_secret_key' and s.decrypted_secret <> '') as secret_key_stored,
  (select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(s.decrypted_secret, 'UTF8')), 'hex')
   from vault.decrypted_secrets as s where s.name = 's3_image_cache_secret_key') as secret_key_sha256,
  -- cron.job is read through query_to_xml so that a database without pg_cron answers null here
  -- instead of failing the whole statement (the text is only parsed when the schema exists).
  case when pg_catalog.to_regclass('cron.job') is null then null
    else (pg_catalog.xpath('/row/n/text()', pg_catalog.query_to_xml(
      'select count(*) as n from cron.job where jobname = ''s3-image-cache-resume-stalled-jobs'' and active',
      false, true, '')))[1]::text::int
  end as cron_jobs
