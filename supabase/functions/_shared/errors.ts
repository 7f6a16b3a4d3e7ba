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
  NameInvalid: make(400, "invalid_filename"),
  MissingFile: make(400, "missing_file"),
  EmptyFile: make(400, "empty_file"),
  Unauthorized: make(401, "unauthorized"),
  InvalidToken: make(401, "invalid_token"),
  TokenExpired: make(401, "token_expired"),
  Forbidden: make(403, "forbidden"),
  NotFound: make(404, "not_found"),
  /** A file named for the index that the bucket does not hold. */
  NotInBucket: make(404, "not_in_bucket"),
  MethodNotAllowed: make(405, "method_not_allowed"),
  Conflict: make(409, "conflict"),
  AlreadyExists: make(409, "already_exists"),
  RebuildRunning: make(409, "rebuild_running"),
  /** A rebuild or reconcile job ended as failed; the index was left as it was. */
  RebuildFailed: make(502, "rebuild_failed"),
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
  /** The project's JWKS could not be fetched to verify a token. */
  AuthUnavailable: make(503, "auth_unavailable"),
  Misconfigured: make(500, "misconfigured"),
  Internal: make(500, "internal_error"),
} as const;

/** Maps a Postgres SQLSTATE from the SQL API to the domain error callers should see. */
export function fromPostgresError(error: unknown): AppError | undefined {
  const code = (error as { code?: unknown })?.code;
  const message = (error as { message?: string })?.message ?? "Database error";
  switch (code) {
    case "22023": // invalid_parameter_value: the SQL API's validation
    case "22001": // string_data_right_truncation
      return ERRORS.ValidationFailed(message);
    case "23505":
      return ERRORS.Conflict(message);
    case "40001": // the rebuild's page compare-and-set lost to another worker
    case "55000": // object_not_in_prerequisite_state: e.g. the job is no longer running
      return ERRORS.Conflict(message);
    case "P0002": // no_data_found: e.g. no such rebuild job
      return ERRORS.NotFound(message);
    case "42501":
      return ERRORS.Forbidden("The database refused this operation for your role");
    case "57P01": // admin_shutdown
    case "57P03": // cannot_connect_now
    case "08000":
    case "08001":
    case "08003":
    case "08006":
    case "ECONNREFUSED":
    case "ECONNRESET":
    case "CONNECTION_CLOSED":
    case "CONNECTION_ENDED":
    case "CONNECT_TIMEOUT":
      return ERRORS.DatabaseUnavailable("The image index is unavailable right now; try again");
    default:
      return undefined;
  }
}
