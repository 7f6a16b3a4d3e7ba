/**
 * The memory floor of the upload benchmark: a bare `Deno.serve` that reads each request body
 * exactly as `upload-to-s3` does (in place, into a pooled buffer) and answers 204, doing
 * nothing else. `GET /` answers its VmHWM in bytes. What its peak grows by under the same
 * load is the runtime's share (HTTP buffers, allocator), not the function's.
 *
 * ```sh
 * node_modules/.bin/deno run -A scripts/bench/bare_body_server.ts --port 58124
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { readBodyLimited } from "../../supabase/functions/_shared/server/body_limit.ts";
import { BufferPool } from "../../supabase/functions/upload-to-s3/buffer_pool.ts";

const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string" } } });
const pool = new BufferPool(32 * 1024 * 1024);

Deno.serve({ port: Number(values.port), hostname: "127.0.0.1", onListen() {} }, async (request) => {
  if (request.method === "GET") {
    const status = await Deno.readTextFile("/proc/self/status");
    return new Response(String(Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) * 1024));
  }
  const body = await readBodyLimited(request, 64 * 1024 * 1024, { pool });
  pool.release(body.buffer as ArrayBuffer);
  return new Response(null, { status: 204 });
});
