/**
 * The function's dependencies, built once per process from the validated configuration: the
 * database client, the bucket, the index, the file operations and the rebuild service.
 *
 * @module
 */
import { authSettingsFromEnv, selfCallKey } from "../_shared/auth/settings.ts";
import { type Config, config } from "../_shared/platform/config.ts";
import { createContinuation } from "./jobs/continuation.ts";
import { getDb } from "../_shared/platform/db.ts";
import { createFileAdmin, type FileAdmin } from "./file_admin.ts";
import { createImageIndex, type ImageIndex } from "../_shared/images/image_index.ts";
import { createRebuildJobs } from "./jobs/job_store.ts";
import { createRebuildService, type RebuildService } from "./jobs/service.ts";
import { createS3Storage } from "../_shared/platform/storage.ts";

/** This function's name, as deployed and as routed by the host. */
export const FUNCTION_NAME = "s3-image-service";

/** Everything the routes use. */
export interface ServiceContext {
  config: Config;
  index: ImageIndex;
  files: FileAdmin;
  rebuilds: RebuildService;
  /** The function's public base URL (`…/functions/v1/s3-image-service`), when known. */
  functionUrl?: string;
}

let context: ServiceContext | undefined;

/** The process's context, created on first use (a bad configuration throws a clear 500). */
export function serviceContext(): ServiceContext {
  if (context) return context;
  const settings = config();
  const sql = getDb(settings);
  const storage = createS3Storage(settings);
  const index = createImageIndex(sql);
  const functionUrl = settings.SUPABASE_URL
    ? `${settings.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/${FUNCTION_NAME}`
    : undefined;
  // The continuation runs slices through the service, and the service schedules them through
  // the continuation; the closure breaks the cycle.
  const continuation = createContinuation({
    functionUrl,
    serviceRoleKey: selfCallKey(authSettingsFromEnv(Deno.env.toObject())),
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
  context = {
    config: settings,
    index,
    files: createFileAdmin({
      index,
      storage,
      signedUrlSeconds: settings.SIGNED_URL_SECONDS,
      publicBaseUrl: settings.PUBLIC_IMAGE_BASE_URL,
    }),
    rebuilds,
    functionUrl,
  };
  return context;
}

/**
 * For tests: makes `replacement` the process's context (fakes instead of S3 and Postgres);
 * `undefined` builds it from the configuration again on next use.
 */
export function setServiceContextForTests(replacement: ServiceContext | undefined): void {
  context = replacement;
}

/** Where a job's status can be read: absolute when the public URL is known. */
export function statusUrl(kind: "rebuild" | "reconcile", jobId: number): string {
  const base = serviceContext().functionUrl ?? `/functions/v1/${FUNCTION_NAME}`;
  return `${base}/${kind}/${jobId}`;
}
