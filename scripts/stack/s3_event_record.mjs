// S3 notification records as Amazon S3 writes them, for the local emulator (s3_emulator.mjs).
//
// s3rver emits records of its own, but three details differ from S3's and each one matters to the
// events endpoint, so the emulator builds its records here instead:
// - S3's `sequencer` is a fixed-width hex string that grows with every event for a key; s3rver's
//   is `Date.now()` in hex, so two events for one key in the same millisecond tie and the
//   endpoint could not tell which came last;
// - S3 sends `eTag` on every `ObjectCreated:*` record; s3rver's copy records lack it;
// - S3 URL-encodes the key in records ("red flower.jpg" arrives as "red+flower.jpg", as AWS's
//   event message structure documents); s3rver sends it raw.
//
// Plain JavaScript because it runs inside the emulator's Node process; Deno unit tests import it.

/** Hex digits of a sequencer: S3's documented example `0055AED6DCD90281E5` has 18. */
export const SEQUENCER_DIGITS = 18;

/**
 * A source of sequencers: each call returns a fixed-width upper-case hex string greater than the
 * one before. The milliseconds since the epoch sit in the high bits, so an emulator restarted on
 * the same data folder keeps counting upwards (the index keeps the last sequencer per key, and a
 * counter starting again at zero would be "older" than everything it had applied).
 *
 * @param {() => number} [now] the clock, in milliseconds (tests pass a frozen one)
 * @returns {() => string}
 * @example
 * const next = createSequencer(() => 0);
 * next(); // "000000000000000001"
 */
export function createSequencer(now = Date.now) {
  let last = 0n;
  return () => {
    const fromClock = BigInt(Math.floor(now())) << 16n;
    last = fromClock > last ? fromClock : last + 1n;
    return last.toString(16).toUpperCase().padStart(SEQUENCER_DIGITS, "0");
  };
}

/** Bytes S3 leaves as they are in a record's key (besides `/`, which separates "folders"). */
const UNRESERVED = /[A-Za-z0-9._*-]/;

/**
 * A key as S3 writes it in a notification record: form-encoded (`application/x-www-form-
 * urlencoded`, a space is `+`, every other byte outside `A-Za-z0-9._*-` is `%XX` of its UTF-8),
 * with `/` kept. Decode with `decodeURIComponent(key.replaceAll("+", " "))`.
 *
 * @param {string} key
 * @returns {string}
 * @example
 * encodeEventKey("red flower (1).jpg"); // "red+flower+%281%29.jpg"
 */
export function encodeEventKey(key) {
  let encoded = "";
  for (const char of key) {
    if (char === " ") encoded += "+";
    else if (char === "/" || UNRESERVED.test(char)) encoded += char;
    else {
      for (const byte of new TextEncoder().encode(char)) {
        encoded += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
      }
    }
  }
  return encoded;
}

/**
 * @typedef {object} S3Record `Records[i]` of an S3 notification (the fields the index reads)
 * @property {string} eventVersion
 * @property {string} eventSource
 * @property {string} awsRegion
 * @property {string} eventTime
 * @property {string} eventName
 * @property {{ s3SchemaVersion: string, configurationId: string, bucket: { name: string, arn: string, ownerIdentity: object }, object: { key: string, size?: number, eTag?: string, sequencer: string } }} s3
 */

/**
 * One S3 notification record (event version 2.1, as S3 sends today).
 *
 * @param {object} event
 * @param {string} event.bucket
 * @param {string} event.key the object's key, unencoded
 * @param {string} event.eventName e.g. `ObjectCreated:Put`, `ObjectRemoved:Delete`
 * @param {string} event.sequencer from {@linkcode createSequencer}
 * @param {number} [event.size] created objects only
 * @param {string} [event.eTag] created objects only, without quotes
 * @param {string} [event.region] default `us-east-1`
 * @param {string} [event.sourceIp]
 * @param {Date} [event.time] default now
 * @returns {S3Record}
 */
export function s3Record(event) {
  /** @type {S3Record["s3"]["object"]} */
  const object = { key: encodeEventKey(event.key), sequencer: event.sequencer };
  if (event.eventName.startsWith("ObjectCreated:")) {
    object.size = event.size ?? 0;
    if (event.eTag) object.eTag = event.eTag.replace(/"/g, "");
  }
  return {
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: event.region ?? "us-east-1",
    eventTime: (event.time ?? new Date()).toISOString(),
    eventName: event.eventName,
    userIdentity: { principalId: "AWS:LOCAL-EMULATOR" },
    requestParameters: { sourceIPAddress: event.sourceIp ?? "127.0.0.1" },
    responseElements: {},
    s3: {
      s3SchemaVersion: "1.0",
      configurationId: "local-stack",
      bucket: {
        name: event.bucket,
        ownerIdentity: { principalId: "LOCAL-EMULATOR" },
        arn: `arn:aws:s3:::${event.bucket}`,
      },
      object,
    },
  };
}
