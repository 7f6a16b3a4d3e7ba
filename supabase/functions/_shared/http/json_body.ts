/**
 * Request input validated with zod: a JSON body or the query string, turned into clear 400s
 * (`invalid_json`, `validation_failed` naming each bad field).
 *
 * @module
 */
import type { z } from "zod";
import { ERRORS } from "./errors.ts";

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
 * Parses and validates the JSON body. An empty body counts as `{}`, so routes whose fields are
 * all optional also accept a bare POST.
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
): Promise<z.infer<S>> {
  const text = await request.text();
  if (new TextEncoder().encode(text).byteLength > MAX_JSON_BYTES) {
    throw ERRORS.PayloadTooLarge(`The JSON body is larger than ${MAX_JSON_BYTES} bytes`);
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
