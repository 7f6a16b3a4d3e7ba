/**
 * A Postgres error as postgres.js raises it (an Error with a SQLSTATE `code`), for unit tests.
 *
 * @module
 */

/** An error carrying SQLSTATE (or network) `code`. */
export const sqlError = (code: string, message = code): Error =>
  Object.assign(new Error(message), { code });
