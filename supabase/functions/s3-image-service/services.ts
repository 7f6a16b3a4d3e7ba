/**
 * What `s3-image-service` is made of, wired once by its composition root (`index.ts`): the
 * index, the file operations and the rebuild service over one database client and one bucket.
 * Nothing here is a process-wide singleton; tests build the same context over doubles.
 *
 * @module
 */
import { type AuthSettings, selfCallKey } from "../_shared/auth/settings.ts";
import type { Config } from "../_shared/platform/config.ts";
import type { Sql } from "../_shared/platform/db.ts";
import { createS3Storage } from "../_shared/platform/s3_client.ts";
import { createImageIndex, type ImageIndex } from "../_shared/images/image_index.ts";
import { createFileAdmin, type FileAdmin } from "./file_admin.ts";
import { createContinuation } from "./jobs/continuation.ts";
import { createRebuildJobs } from "./jobs/job_store.ts";
import { createRebuildService, type RebuildService } from "./jobs/service.ts";
import { createLiveSync, type LiveSync } from "./events/live_sync.ts";

/** This function's name, as deployed and as routed by the host. */
export const FUNCTION_NAME = "s3-image-service";

/** Everything the routes use. */
export interface ServiceContext {
  index: ImageIndex;
  files: FileAdmin;
  rebuilds: RebuildService;
  /** Bucket events (`POST /events`, the stats' `live_sync`); absent where none is wired (tests). */
  liveSync?: LiveSync;
  /** The function's public base URL (`…/functions/v1/s3-image-service`), when known. */
  functionUrl?: string;
}

/** What {@linkcode buildServices} wires together. */
export interface ServiceInputs {
  config: Config;
  /** The one database client of this isolate. */
  sql: Sql;
  /** For the key the rebuild's self-continuation calls with. */
  auth: AuthSettings;
}

/** The real services over Postgres and S3; contacts neither until a request needs them. */
export function buildServices({ config: settings, sql, auth }: ServiceInputs): ServiceContext {
  const storage = createS3Storage(settings);
  const index = createImageIndex(sql);
  const functionUrl = settings.SUPABASE_URL
    ? `${settings.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/${FUNCTION_NAME}`
    : undefined;
  // The continuation runs slices through the service, and the service schedules them through
  // the continuation; the closure breaks the cycle.
  const continuation = createContinuation({
    functionUrl,
    serviceRoleKey: selfCallKey(auth),
    runHere: (request) => rebuilds.continueChain(request),
    maxHops: settings.REBUILD_MAX_HOPS,
  });
  const rebuilds: RebuildService = createRebuildService({
    jobs: createRebuildJobs(sql),
    storage,
    continuation,
    defaults: {
      budget: {
        cpuMs: settings.REBUILD_CPU_BUDGET_MS,
        wallMs: settings.REBUILD_WALL_BUDGET_MS,
        pages: settings.REBUILD_PAGE_BUDGET,
        keys: settings.REBUILD_KEY_BUDGET,
      },
      leaseSeconds: settings.REBUILD_LEASE_SECONDS,
      cpuClock: settings.REBUILD_BUDGET_CLOCKS.cpu,
    },
  });
  return {
    index,
    files: createFileAdmin({
      index,
      storage,
      signedUrlSeconds: settings.SIGNED_URL_SECONDS,
      publicBaseUrl: settings.PUBLIC_IMAGE_BASE_URL,
    }),
    rebuilds,
    liveSync: createLiveSync(settings, sql),
    functionUrl,
  };
}

/** Where a job's status can be read: absolute when the public URL is known. */
export function statusUrl(
  services: Pick<ServiceContext, "functionUrl">,
  kind: "rebuild" | "reconcile",
  jobId: number,
): string {
  const base = services.functionUrl ?? `/functions/v1/${FUNCTION_NAME}`;
  return `${base}/${kind}/${jobId}`;
}
