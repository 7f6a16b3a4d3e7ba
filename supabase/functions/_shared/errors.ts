/**
 * The one table of error codes both functions answer with. Each factory carries its HTTP
 * status, so handlers throw `ERRORS.NameInvalid(...)` and {@linkcode errorResponse} renders it.
 *
 * @module
 */

/** An error a caller is meant to see: a stable code, an HTTP status and a readable message. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "AppError";
  }
}

const make =
  (status: number, code: string) => (message: string, details?: Record<string, unknown>) =>
    new AppError(status, code, message, details);

/** Every error code the functions return, by name. */
export const ERRORS = {
  BadRequest: make(400, "bad_request"),
  InvalidJson: make(400, "invalid_json"),
  ValidationFailed: make(400, "validation_failed"),
  /** A bucket event delivery no sender shape matches (`POST /s3-image-service/events`). */
  MalformedEvent: make(400, "malformed_event"),
  NameInvalid: make(400, "invalid_filename"),
  MissingFile: make(400, "missing_file"),
  EmptyFile: () => new AppError(400, "empty_file", "The file is empty (0 bytes)"),
  Unauthorized: make(401, "unauthorized"),
  InvalidToken: make(401, "invalid_token"),
  TokenExpired: make(401, "token_expired"),
  /** `POST /s3-image-service/events` without the events secret (a user token is not enough). */
  InvalidEventsSecret: make(401, "invalid_events_secret"),
  Forbidden: make(403, "forbidden"),
  NotFound: make(404, "not_found"),
  /** A file named for the index that the bucket does not hold. */
  NotInBucket: make(404, "not_in_bucket"),
  MethodNotAllowed: make(405, "method_not_allowed"),
  Conflict: make(409, "conflict"),
  /** The one sentence for a name that is taken, written here so no layer words it again. */
  ImageExists: (key: string) =>
    new AppError(
      409,
      "already_exists",
      `An image named "${key}" already exists; send replace=true to overwrite it`,
      { key },
    ),
  /**
   * Direct-upload confirm: the bucket published other bytes than the ones checked (a store that
   * ignores the copy's `x-amz-copy-source-if-match`); they were taken down again.
   */
  PublishedUnchecked: (key: string) =>
    new AppError(
      409,
      "publish_mismatch",
      `The file published as "${key}" is not the one that was checked (it changed while it was copied), so it was taken down and nothing was indexed; upload it again`,
      { key },
    ),
  RebuildRunning: make(409, "rebuild_running"),
  /**
   * A rebuild or reconcile would have removed more than half of the index: held back, nothing
   * changed (`details.job.summary.guard` has the numbers); repeat it with `force: true`.
   */
  NeedsConfirmation: make(409, "needs_confirmation"),
  /** The store said more keys follow but gave no way to read them: the listing cannot be trusted. */
  ListingTruncated: () =>
    new AppError(
      502,
      "listing_truncated",
      "The bucket listing said more keys follow but gave no continuation token; nothing can be applied from a partial listing",
    ),
  /** A rebuild or reconcile job ended as failed; the index was left as it was. */
  RebuildFailed: make(502, "rebuild_failed"),
  /** Amazon SNS did not accept the events endpoint's subscription confirmation. */
  SnsConfirmationFailed: make(502, "sns_confirmation_failed"),
  PayloadTooLarge: make(413, "payload_too_large"),
  UnsupportedMediaType: make(415, "unsupported_media_type"),
  ContentMismatch: make(415, "content_mismatch"),
  /** An image that is also something else (markup inside, data after its end). */
  PolyglotRefused: make(415, "polyglot_refused"),
  ImageTooLarge: make(422, "image_too_large"),
  CorruptImage: make(422, "corrupt_image"),
  StoredNotIndexed: make(503, "stored_not_indexed"),
  StorageUnavailable: make(503, "storage_unavailable"),
  DatabaseUnavailable: make(503, "database_unavailable"),
  /** Live sync is off (`EVENTS_SECRET` unset): a 5xx, so a sender keeps the events and retries. */
  EventsDisabled: make(503, "events_disabled"),
  /** The project's JWKS could not be fetched to verify a token. */
  AuthUnavailable: make(503, "auth_unavailable"),
  Misconfigured: make(500, "misconfigured"),
  Internal: make(500, "internal_error"),
} as const;
