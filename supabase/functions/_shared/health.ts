/**
 * `GET /<function>/health`: proves routing, the gateway's JWT check and the caller's role
 * end to end, and reports configuration problems by variable name (never by value).
 *
 * @module
 */
import { authenticate } from "./auth/authenticate.ts";
import { config } from "./config.ts";
import { AppError } from "./errors.ts";
import { json } from "./http.ts";
import { memoryPeak } from "./memory_meter.ts";

/** Answers a health request for `functionName`. */
export async function healthResponse(request: Request, functionName: string): Promise<Response> {
  // Who is calling comes first and from the auth settings alone, so a broken storage or
  // database setting never opens the door: it is reported to authenticated callers instead.
  const caller = await authenticate(request);
  let configProblem: string | undefined;
  try {
    config();
  } catch (error) {
    configProblem = error instanceof AppError ? error.message : "configuration unreadable";
  }
  return json({
    ok: configProblem === undefined,
    function: functionName,
    role: caller.role,
    ...(configProblem ? { configuration: configProblem } : {}),
    // For operators only: the worker's memory, and its isolate's peak since the last such look.
    ...(caller.role === "service_role" ? { memory: memoryReport() } : {}),
  }, configProblem ? 500 : 200);
}

function memoryReport() {
  const usage = Deno.memoryUsage();
  const isolateBytes = usage.heapUsed + usage.external;
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    isolateBytes,
    peakIsolateBytes: Math.max(isolateBytes, memoryPeak.takePeak()),
  };
}
