/**
 * The one map of Postgres errors: which SQLSTATEs (and postgres.js connection codes) are
 * transient, which mean a rebuild worker lost its job, which HTTP error a caller sees for each,
 * and the sentence an operator reads in `/health?deep=true`. Everything that judges a database
 * error asks here; nothing matches an error's message text.
 *
 * @module
 */
import { type AppError, ERRORS } from "../errors.ts";
import { StartupRefusedError } from "./db_socket.ts";

/** What a database error means to us. */
export type DbErrorKind =
  | "transient" // connection trouble or contention: worth another attempt
  | "unavailable" // the database refuses connections on purpose: not worth retrying now
  | "lost_job" // the SQL API refused a step of a job this worker no longer owns
  | "invalid" // the SQL API's own input validation
  | "conflict"
  | "not_found"
  | "forbidden";

const KINDS: Readonly<Record<string, DbErrorKind>> = {
  // postgres.js connection codes
  ECONNREFUSED: "transient",
  ECONNRESET: "transient",
  EPIPE: "transient",
  ETIMEDOUT: "transient",
  CONNECTION_CLOSED: "transient",
  CONNECTION_ENDED: "transient",
  CONNECTION_DESTROYED: "transient",
  CONNECT_TIMEOUT: "transient",
  "57P01": "transient", // admin_shutdown
  "57P03": "transient", // cannot_connect_now
  "53300": "transient", // too_many_connections
  "40P01": "transient", // deadlock_detected
  // lock_not_available: finish and preview give up waiting for a row lock after 10 s (a long
  // transaction holds it); the job is retried with backoff, then paused and resumed, not failed.
  "55P03": "transient",
  "40001": "lost_job", // the page compare-and-set lost to another worker
  "55000": "lost_job", // object_not_in_prerequisite_state: the job is no longer running
  P0002: "lost_job", // no_data_found: no such job
  "22023": "invalid", // invalid_parameter_value
  "22001": "invalid", // string_data_right_truncation
  "23505": "conflict", // unique_violation
  "42501": "forbidden", // insufficient_privilege
};

/** The kind of `error`, or undefined for anything this map does not know. */
export function dbErrorKind(error: unknown): DbErrorKind | undefined {
  const code = String((error as { code?: unknown })?.code ?? "");
  if (code.startsWith("08")) return "transient"; // connection_exception class
  // 55000 is also what Postgres answers a connection to a database closed to new connections;
  // our SQL API uses it for a job that moved on. The transport tells them apart: a refusal
  // before the connection was ready arrives as a StartupRefusedError (db_socket.ts).
  if (code === "55000" && error instanceof StartupRefusedError) return "unavailable";
  return KINDS[code];
}

/** Whether a database error is worth retrying (connection trouble, not bad input). */
export const isTransientDbError = (error: unknown): boolean => dbErrorKind(error) === "transient";

/** Whether the SQL API refused a step because the worker no longer owns the job. */
export const isLostJobError = (error: unknown): boolean => dbErrorKind(error) === "lost_job";

/** The HTTP error a caller sees for a database error, or undefined (rendered as a 500). */
export function fromPostgresError(error: unknown): AppError | undefined {
  const message = (error as { message?: string })?.message ?? "Database error";
  switch (dbErrorKind(error)) {
    case "transient":
    case "unavailable":
      return ERRORS.DatabaseUnavailable("The image index is unavailable right now; try again");
    case "invalid":
      return ERRORS.ValidationFailed(message);
    case "lost_job": // no such job is a 404; a job that moved on is a conflict
      return (error as { code?: unknown }).code === "P0002"
        ? ERRORS.NotFound(message)
        : ERRORS.Conflict(message);
    case "conflict":
      return ERRORS.Conflict(message);
    case "forbidden":
      return ERRORS.Forbidden("The database refused this operation for your role");
    default:
      return undefined;
  }
}

/**
 * A secret-free sentence for a database failure, for operators (`/health?deep=true`): its
 * SQLSTATE or network code and which setting to check, never a URL.
 */
export function describeDbFailure(error: unknown): string {
  const code = (error as { code?: string })?.code;
  if (code === "28P01" || code === "28000") {
    return `the database refused our login (${code}): check SUPABASE_DB_URL or DB_POOLER_URL`;
  }
  if (code === "3D000") return `the database does not exist (${code})`;
  if (dbErrorKind(error) === "unavailable") {
    return `the database is not accepting connections (${code})`;
  }
  if (code && /^E[A-Z]+$/.test(code)) return `the database is unreachable (${code})`;
  if (code === "CONNECT_TIMEOUT") return "the database is unreachable (connect timeout)";
  return code ? `the database answered with an error (${code})` : "the database is unreachable";
}
