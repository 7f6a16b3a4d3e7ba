/**
 * The one way both functions read request input: a JSON body, bounded while it is read (never
 * buffered past the limit), or the query string, validated with zod and turned into clear
 * errors: `413 payload_too_large`, `400 invalid_json`, `400 validation_failed` naming each bad
 * field.
 *
 * @module
 */
import type { z } from "zod";
import { readBodyLimited } from "./body_limit.ts";
import { ERRORS } from "../errors.ts";

/** Largest JSON body accepted (these routes take a few small fields). */
export const MAX_JSON_BYTES = 64 * 1024;

function validationError(what: string, error: z.ZodError) {
  const problems = error.issues.map((issue) => {
    const field = issue.path.join(".");
    return field ? `${field}: ${issue.message}` : issue.message;
  });
  return ERRORS.ValidationFailed(`Invalid ${what}: ${problems.join("; ")}`, {
    issues: error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
  });
}

/**
 * Parses and validates the JSON body, reading at most `options.maxBytes` (default
 * {@linkcode MAX_JSON_BYTES}). An empty body counts as `{}` everywhere, so routes whose fields
 * are all optional accept a bare POST and the others answer which fields are missing.
 *
 * @example
 * ```ts
 * const { filename, force } = await parseJsonBody(request, z.object({
 *   filename: z.string(), force: z.boolean().default(false),
 * }));
 * ```
 */
export async function parseJsonBody<S extends z.ZodType>(
  request: Request,
  schema: S,
  options: { maxBytes?: number } = {},
): Promise<z.infer<S>> {
  const maxBytes = options.maxBytes ?? MAX_JSON_BYTES;
  const body = await readBodyLimited(request, maxBytes, {
    tooLarge: () => ERRORS.PayloadTooLarge(`The JSON body is larger than ${maxBytes} bytes`),
  });
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw ERRORS.InvalidJson("The request body is not valid JSON: it is not UTF-8 text");
  }
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text);
    } catch {
      throw ERRORS.InvalidJson("The request body is not valid JSON");
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) throw validationError("request body", result.error);
  return result.data;
}

/** Validates the query string (`?prefix=a&limit=10`) as an object of strings. */
export function parseQuery<S extends z.ZodType>(request: Request, schema: S): z.infer<S> {
  const params = Object.fromEntries(new URL(request.url).searchParams);
  const result = schema.safeParse(params);
  if (!result.success) throw validationError("query", result.error);
  return result.data;
}
