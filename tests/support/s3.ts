/**
 * Direct bucket access for tests (out-of-band writes, byte-for-byte read-back) and the S3
 * emulator's fault injection.
 *
 * @module
 */
import type { ImageStorage } from "../../supabase/functions/_shared/platform/storage.ts";
import { stackStorage } from "../../scripts/stack/stack_storage.ts";
import { stackInfo } from "./stack.ts";

/** The stack's bucket through our own storage module. */
export function testStorage(): ImageStorage {
  return stackStorage(stackInfo());
}

/** A fault the emulator injects into the next `remaining` matching requests. */
export interface S3Fault {
  /** "list", "put", "object" (GET/HEAD/DELETE of a key) or "bucket"; any when absent. */
  operation?: "list" | "put" | "object" | "bucket";
  status?: number;
  code?: string;
  /** Drop the connection instead of answering. */
  reset?: boolean;
  /** Let this many matching requests through untouched before failing. Default 0. */
  after?: number;
  remaining: number;
}

/** Makes the emulator fail the next matching requests. */
export async function injectS3Fault(fault: S3Fault): Promise<void> {
  const response = await fetch(`${stackInfo().S3_ENDPOINT}/__faults`, {
    method: "POST",
    body: JSON.stringify(fault),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`Fault injection failed: ${response.status}`);
}

/** Removes every pending fault. */
export async function clearS3Faults(): Promise<void> {
  const response = await fetch(`${stackInfo().S3_ENDPOINT}/__faults`, { method: "DELETE" });
  await response.body?.cancel();
}

/** The faults still pending, with how many requests each will still fail. */
export async function pendingS3Faults(): Promise<S3Fault[]> {
  const response = await fetch(`${stackInfo().S3_ENDPOINT}/__faults`);
  return (await response.json()).faults;
}
