/**
 * The image index (`public.s3_image_cache`) seen from TypeScript: every read and write goes
 * through the SQL API, so the functions obey exactly the rules a DBA gets in psql.
 *
 * @module
 */
import type { Sql } from "../platform/db.ts";
import { isTransientDbError } from "../platform/db_errors.ts";
import { ERRORS } from "../errors.ts";
import { withRetry } from "../platform/retry.ts";

/** One index row as the SQL API returns it. */
export interface IndexEntry {
  filename: string;
  size_bytes: number | null;
  etag: string | null;
  content_type: string | null;
  last_modified: Date | null;
  width: number | null;
  height: number | null;
  updated_at: Date;
  created_at?: Date;
}

/** What an index entry may carry besides its name (all optional, as for a DBA). */
export interface EntryMetadata {
  sizeBytes?: number;
  etag?: string;
  contentType?: string;
  lastModified?: Date;
  width?: number;
  height?: number;
}

/** The index operations the functions use. */
export interface ImageIndex {
  /** Adds or refreshes an entry; throws a 400 AppError with the SQL API's message on bad input. */
  add(filename: string, metadata?: EntryMetadata): Promise<void>;
  /**
   * Removes the entry named exactly `filename`, else the one under its stored form (as every
   * SQL file function addresses names), and returns the removed row's exact filename: the key
   * whose object goes with it. `null` when there was no such entry.
   *
   * @throws 400 `invalid_filename` with the SQL API's message when the name breaks the rules
   * (and no row has exactly that name).
   */
  remove(filename: string): Promise<string | null>;
  /** The entry named exactly `filename`, else the one under its stored form, or null. */
  get(filename: string): Promise<IndexEntry | null>;
  lookup(filenames: string[]): Promise<IndexEntry[]>;
  /** A page of entries by prefix, after the `after` cursor, in S3's byte order. */
  search(options: { prefix?: string; after?: string; pageSize?: number }): Promise<IndexEntry[]>;
  stats(): Promise<Record<string, unknown>>;
}

const retryDb = <T>(operation: () => Promise<T>) =>
  withRetry(operation, { attempts: 3, baseMs: 100, maxMs: 1000, retryable: isTransientDbError });

/** The index over `sql` (postgres.js). Transient connection errors are retried. */
export function createImageIndex(sql: Sql): ImageIndex {
  return {
    async add(filename, metadata = {}) {
      const [{ result }] = await retryDb(() =>
        sql`select public.add_file_to_s3_cache(
          filename => ${filename},
          size_bytes => ${metadata.sizeBytes ?? null},
          etag => ${metadata.etag ?? null},
          content_type => ${metadata.contentType ?? null},
          last_modified => ${metadata.lastModified ?? null},
          width => ${metadata.width ?? null},
          height => ${metadata.height ?? null}
        ) as result`
      );
      if (result !== "SUCCESS") throw ERRORS.NameInvalid(result);
    },

    async remove(filename) {
      // The name's problem (NULL for a valid name) comes back beside the outcome, so a valid
      // name that did not remove anything is simply absent: no message text is interpreted.
      const [{ removed, problem, message }] = await retryDb(() =>
        sql`select r.removed, public.s3_cache_filename_problem(${filename}) as problem,
                   s3_image_cache_private.s3_cache_file_error('remove', ${filename}, r.problem)
                     as message
            from public.s3_cache_remove_file(${filename}) as r`
      );
      if (removed !== null) return removed;
      if (problem === null) return null;
      throw ERRORS.NameInvalid(message);
    },

    async get(filename) {
      const rows = await retryDb(() =>
        sql<IndexEntry[]>`select * from public.lookup_s3_cache(${[filename]}::text[])`
      );
      return rows[0] ?? null;
    },

    lookup: (filenames) =>
      retryDb(() => sql<IndexEntry[]>`select * from public.lookup_s3_cache(${filenames}::text[])`),

    search: ({ prefix = "", after, pageSize = 100 }) =>
      retryDb(() =>
        sql<IndexEntry[]>`select * from public.search_s3_cache(
          prefix => ${prefix}, after => ${after ?? null}, page_size => ${pageSize}
        )`
      ),

    async stats() {
      const [{ stats }] = await retryDb(() => sql`select public.s3_cache_stats() as stats`);
      return stats;
    },
  };
}
