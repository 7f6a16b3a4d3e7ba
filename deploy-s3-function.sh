#!/usr/bin/env bash
# Deploys both functions to a hosted Supabase project. Full flow (secrets, migrations, checks)
# lands with its own issue; today this deploys the functions as they are.
#
# Usage: SUPABASE_PROJECT_REF=<ref> ./deploy-s3-function.sh
set -euo pipefail
cd "$(dirname "$0")"
: "${SUPABASE_PROJECT_REF:?Set SUPABASE_PROJECT_REF to your project ref (Dashboard > Project Settings)}"
for fn in upload-to-s3 s3-image-service; do
  npx supabase functions deploy "$fn" --project-ref "$SUPABASE_PROJECT_REF" \
    --import-map supabase/functions/import_map.json
done
