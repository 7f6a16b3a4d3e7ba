/**
 * Direct bucket access for tests (out-of-band writes, byte-for-byte read-back), and the same
 * through a private fault proxy for tests of the storage module's own retries.
 *
 * @module
 */
import type { ImageStorage } from "../../supabase/functions/_shared/platform/storage.ts";
import { type S3FaultProxy, startS3FaultProxy } from "../../scripts/stack/fault_proxy.ts";
import { stackStorage } from "../../scripts/stack/stack_storage.ts";
import { stackInfo } from "./stack.ts";

/** The stack's bucket through our own storage module. */
export function testStorage(): ImageStorage {
  return stackStorage(stackInfo());
}

/**
 * Runs `work` with a storage whose requests pass a fault proxy of their own (started here in
 * front of the stack's S3, stopped afterwards), so its rules touch no other client: not the
 * functions, not the other tests' storage.
 *
 * @example
 * ```ts
 * await withFaultyStorage(async (storage, proxy) => {
 *   proxy.addFault({ operation: "list", status: 503, remaining: 2 });
 *   await storage.listPage({ prefix: "a" }); // retried through both 503s
 * });
 * ```
 */
export async function withFaultyStorage<T>(
  work: (storage: ImageStorage, proxy: S3FaultProxy) => Promise<T>,
): Promise<T> {
  const info = stackInfo();
  const upstream = new URL(info.S3_ENDPOINT);
  const proxy = startS3FaultProxy({
    upstream: { hostname: upstream.hostname, port: Number(upstream.port) },
  });
  try {
    return await work(stackStorage({ ...info, S3_ENDPOINT: proxy.url }), proxy);
  } finally {
    await proxy.stop();
  }
}
