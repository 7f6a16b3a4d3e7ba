/**
 * Live sync as the function's services hold it: the events secret (unset: off), the bucket whose
 * events count, the SQL side and the SNS verifier, built once per isolate from the configuration.
 *
 * @module
 */
import type { Config } from "../../_shared/platform/config.ts";
import type { Sql } from "../../_shared/platform/db.ts";
import { createEventStore, type EventStore } from "./event_store.ts";
import { createSnsVerifier, type SnsVerifier } from "./sns_verify.ts";

/** What the events route and the stats route use. */
export interface LiveSync {
  /** `EVENTS_SECRET`; live sync is off without it. */
  secret?: string;
  /** `S3_BUCKET`: events of other buckets are ignored. */
  bucket: string;
  store: EventStore;
  sns: SnsVerifier;
}

/** Live sync over the configuration and the isolate's database client. */
export function createLiveSync(config: Config, sql: Sql): LiveSync {
  return {
    secret: config.EVENTS_SECRET,
    bucket: config.S3_BUCKET,
    store: createEventStore(sql),
    sns: createSnsVerifier({
      certUrlPrefix: config.EVENTS_SNS_CERT_URL_PREFIX,
      topicArns: config.EVENTS_SNS_TOPIC_ARNS,
    }),
  };
}
