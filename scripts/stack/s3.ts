/**
 * The local S3 endpoint: spawns `s3_emulator.mjs` under Node (s3rver does not run on Deno).
 * It has no fault injection of its own: tests steer `fault_proxy.ts` in front of it.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  commandExists,
  httpAnswers,
  MissingPrerequisite,
  type Service,
  spawnService,
} from "./process.ts";

const EMULATOR = fileURLToPath(new URL("./s3_emulator.mjs", import.meta.url));

/** Options for {@linkcode startS3Emulator}. */
export interface S3EmulatorOptions {
  port: number;
  /** Where objects are stored; they persist between runs. */
  dataDir: string;
  bucket: string;
  logFile?: string;
  /**
   * Post every put, copy and delete to the events endpoint as S3 notification records
   * (`s3_emulator.mjs`, `event_delivery.mjs`); only keys starting with `prefix`. Default: none.
   */
  events?: { url: string; secret: string; prefix: string };
}

/** The emulator's fixed credentials: s3rver only accepts this access key id. */
export const EMULATOR_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** Starts the emulator and waits until it answers. */
export async function startS3Emulator(options: S3EmulatorOptions): Promise<Service> {
  if (!(await commandExists("node"))) {
    throw new MissingPrerequisite(
      "node not found (the S3 emulator runs on Node)",
      "apt-get install -y nodejs",
    );
  }
  await Deno.mkdir(options.dataDir, { recursive: true });
  const args = [
    "node",
    "--openssl-legacy-provider",
    EMULATOR,
    "--port",
    String(options.port),
    "--dir",
    options.dataDir,
    "--bucket",
    options.bucket,
    ...(options.events ? ["--events-prefix", options.events.prefix] : []),
  ];
  return await spawnService("s3-emulator", args, {
    // The secret goes in the environment, not the arguments, which `ps` shows to every user.
    env: options.events
      ? { EVENTS_URL: options.events.url, EVENTS_SECRET: options.events.secret }
      : undefined,
    ready: () => httpAnswers(`http://127.0.0.1:${options.port}/`),
    logFile: options.logFile,
  });
}
