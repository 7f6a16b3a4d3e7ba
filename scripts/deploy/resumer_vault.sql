-- deploy-s3-function.sh: stores the stalled-job resumer's two Vault entries (created, or updated
-- in place when they exist). The values are filled in by the script after it checked their form.
do $deploy$
declare
  wanted constant jsonb := jsonb_build_object(
    's3_image_cache_project_url', '@PROJECT_URL@',
    's3_image_cache_secret_key', '@SECRET_KEY@'
  );
  entry record;
  existing uuid;
begin
  for entry in select key, value from pg_catalog.jsonb_each_text(wanted) loop
    select s.id into existing from vault.secrets as s where s.name = entry.key;
    if found then
      perform vault.update_secret(existing, entry.value);
    else
      perform vault.create_secret(entry.value, entry.key, 'stalled-job resumer of s3-image-cache (deploy-s3-function.sh)');
    end if;
  end loop;
end
$deploy$;
