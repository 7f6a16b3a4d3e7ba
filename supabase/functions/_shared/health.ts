/**
 * `GET /<function>/health`: proves routing, the gateway's JWT check and the caller's role
 * end to end, and reports configuration problems by variable name (never by value).
 *
 * @module
 */
import { authenticate } from "./auth.ts";
import { config } from "./config.ts";
import { AppError } from "./errors.ts";
import { json } from "./http.ts";

/** Answers a health request for `functionName`. */
export async function healthResponse(request: Request, functionName: string): Promise<Response> {
  let jwtSecret: string | undefined;
  let configProblem: string | undefined;
  try {
    jwtSecret = config().SUPABASE_JWT_SECRET;
  } catch (error) {
    configProblem = error instanceof AppError ? error.message : "configuration unreadable";
  }
  const caller = await authenticate(request, jwtSecret ?? Deno.env.get("SUPABASE_JWT_SECRET"));
  return json({
    ok: configProblem === undefined,
    function: functionName,
    role: caller.role,
    ...(configProblem ? { configuration: configProblem } : {}),
  }, configProblem ? 500 : 200);
}
