/**
 * The deep health checks both functions share: the bucket (`HeadBucket`, one attempt) and the
 * database (`select 1`), each failure worded by its platform's classifier.
 *
 * @module
 */
import type { Config } from "../platform/config.ts";
import type { Sql } from "../platform/db.ts";
import { describeDbFailure } from "../platform/db_errors.ts";
import { headBucket } from "../platform/s3_client.ts";
import { describeS3Failure } from "../platform/s3_errors.ts";
import type { DependencyCheck } from "./health.ts";

/** The checks of `GET /health?deep=true` against `config`'s bucket and the client `sql`. */
export function platformChecks(config: Config, sql: Sql): Record<string, DependencyCheck> {
  return {
    bucket: {
      run: (signal) => headBucket(config, { signal }),
      describe: (error) => describeS3Failure(error, config.S3_BUCKET),
    },
    database: {
      run: async () => {
        await sql`select 1`;
      },
      describe: describeDbFailure,
    },
  };
}
