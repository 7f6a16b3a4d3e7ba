/**
 * Live sync's SQL API seen from TypeScript: apply a batch of events in one transaction
 * (`s3_cache_apply_events`), count a malformed delivery, read the stats. Transient connection
 * errors are retried: a batch either committed or did not, and a batch applied twice changes
 * nothing the second time (every event is then a repeat).
 *
 * @module
 */
import type { LiveSyncStats } from "../../_shared/contract.ts";
import type { Sql } from "../../_shared/platform/db.ts";
import { isTransientDbError } from "../../_shared/platform/db_errors.ts";
import { withRetry } from "../../_shared/platform/retry.ts";
import { type BucketEvent, toSqlEvent } from "./bucket_event.ts";

/** What one event did, as `s3_cache_apply_events` reports it. */
export interface EventResult {
  key: string;
  action: BucketEvent["action"];
  outcome: "applied" | "ignored" | "refused";
  /** Why it was ignored or refused; null when applied. */
  reason: string | null;
}

/** What a batch did. */
export interface ApplyResult {
  applied: number;
  ignored: number;
  refused: number;
  events: EventResult[];
}

/** The events' side of the database. */
export interface EventStore {
  /**
   * Applies `events` in one transaction; `ignoredUpstream` events the route left out count as
   * ignored in the stats.
   */
  apply(events: readonly BucketEvent[], ignoredUpstream: number): Promise<ApplyResult>;
  /** Counts one delivery answered 400. */
  recordMalformed(): Promise<void>;
  /** `LiveSyncStats` but `enabled` (which only the function knows). */
  stats(): Promise<Omit<LiveSyncStats, "enabled">>;
}

const retryDb = <T>(operation: () => Promise<T>) =>
  withRetry(operation, { attempts: 3, baseMs: 100, maxMs: 1000, retryable: isTransientDbError });

/** The store over `sql` (postgres.js). */
export function createEventStore(sql: Sql): EventStore {
  return {
    async apply(events, ignoredUpstream) {
      const batch = events.map(toSqlEvent);
      const [{ result }] = await retryDb(() =>
        sql`select public.s3_cache_apply_events(
          ${sql.json(batch as never)}::jsonb, ${ignoredUpstream}
        ) as result`
      );
      return result as ApplyResult;
    },

    async recordMalformed() {
      await retryDb(() => sql`select public.s3_cache_record_malformed_event()`);
    },

    async stats() {
      const [{ stats }] = await retryDb(() =>
        sql`select public.s3_cache_live_sync_stats() as stats`
      );
      return stats;
    },
  };
}
