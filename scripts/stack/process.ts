/**
 * Small process helpers for the local stack: running a command to completion, checking a
 * prerequisite, handing a directory to the `postgres` user.
 *
 * @module
 */

/** A missing tool or a busy port, with the one command that fixes it. */
export class MissingPrerequisite extends Error {
  constructor(problem: string, readonly fix: string) {
    super(`${problem}.\n  Fix: ${fix}`);
    this.name = "MissingPrerequisite";
  }
}

/** Output of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode run}. */
export interface RunOptions {
  /** Return a non-zero exit instead of throwing. Default `false`. */
  allowFailure?: boolean;
  env?: Record<string, string>;
  cwd?: string;
}

/** Runs a command to completion and returns its output; throws on a non-zero exit. */
export async function run(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const [program, ...rest] = args;
  const output = await new Deno.Command(program, {
    args: rest,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const result = {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
  if (result.code !== 0 && !options.allowFailure) {
    throw new Error(
      `Command failed (exit ${result.code}): ${args.join(" ")}\n${result.stderr || result.stdout}`,
    );
  }
  return result;
}

/** Whether `name` is on the PATH. */
export async function commandExists(name: string): Promise<boolean> {
  const result = await run(["sh", "-c", `command -v ${name}`], { allowFailure: true });
  return result.code === 0;
}

/** Whether this process runs as root. */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** As root, gives `path` to the `postgres` user (the cluster's user); otherwise a no-op. */
export async function chownToPostgres(path: string): Promise<void> {
  if (!isRoot()) return;
  await run(["chown", "-R", "postgres:postgres", path]);
}

/**
 * A fresh temporary directory that the `postgres` user can traverse (Deno creates them 0700,
 * which `initdb` run as `postgres` cannot enter).
 */
export async function makeStackTempDir(prefix = "s3-image-cache-"): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o755);
  return dir;
}

/** A long-running child process of the stack. */
export interface Service {
  name: string;
  process: Deno.ChildProcess;
  /** Whether the process has exited. */
  readonly exited: boolean;
  /** Ends the process (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  stop(graceMs?: number): Promise<void>;
}

/** Options for {@linkcode spawnService}. */
export interface SpawnServiceOptions {
  env?: Record<string, string>;
  /** Start from an empty environment (only `env`). Default `false`. */
  clearEnv?: boolean;
  cwd?: string;
  /** Resolves once the service answers; the spawn fails if it exits first or times out. */
  ready: () => Promise<boolean>;
  /** How long to wait for `ready`. Default 30 s. */
  timeoutMs?: number;
  /** Where the child's output goes: a log file path, or "inherit". Default "inherit". */
  logFile?: string;
}

/** Starts a long-running process and waits until `ready()` says it serves. */
export async function spawnService(
  name: string,
  args: string[],
  options: SpawnServiceOptions,
): Promise<Service> {
  const [program, ...rest] = args;
  const log = options.logFile
    ? await Deno.open(options.logFile, { create: true, append: true, write: true })
    : undefined;
  const child = new Deno.Command(program, {
    args: rest,
    env: options.env,
    clearEnv: options.clearEnv,
    cwd: options.cwd,
    stdin: "null",
    stdout: log ? "piped" : "inherit",
    stderr: log ? "piped" : "inherit",
  }).spawn();
  if (log) {
    // Both streams into one file; the pipes are closed when the child exits.
    const writer = log.writable;
    const [a, b] = [child.stdout, child.stderr];
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) await log.write(chunk).catch(() => {});
    };
    Promise.all([pump(a), pump(b)]).finally(() => writer.close().catch(() => {}));
  }
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const service: Service = {
    name,
    process: child,
    get exited() {
      return exited;
    },
    async stop(graceMs = 5000) {
      if (exited) return;
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, graceMs);
      await status;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (exited) {
      const { code } = await status;
      const where = options.logFile ? ` (see ${options.logFile})` : "";
      throw new Error(`${name} exited with code ${code} before it was ready${where}`);
    }
    if (await options.ready().catch(() => false)) return service;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await service.stop();
  throw new Error(`${name} was not ready after ${(options.timeoutMs ?? 30_000) / 1000} s`);
}

/** Whether something answers HTTP at `url` (any status). */
export async function httpAnswers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** A TCP port on 127.0.0.1 that is free right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Throws a clear error when `port` on 127.0.0.1 is already taken. */
export function assertPortFree(port: number, variable: string): void {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } catch {
    throw new MissingPrerequisite(
      `Port ${port} is already in use`,
      `stop whatever holds it (ss -ltnp | grep :${port}), or set ${variable} to a free port`,
    );
  }
}

/** Options for {@linkcode superviseService}. */
export interface SuperviseOptions {
  /** Where restarts are reported (besides stderr): the stack's log folder file. */
  logFile?: string;
  /** Restarts allowed within a minute before giving up (a piece that crashes at start). */
  maxRestartsPerMinute?: number;
}

/**
 * Keeps a piece of the stack running: when it exits without being stopped, it is started again
 * (after a short pause) and the restart is written to `logFile` and stderr, so a stack left
 * running for days recovers from a crashed emulator as a managed service would.
 */
export async function superviseService(
  start: () => Promise<Service>,
  options: SuperviseOptions = {},
): Promise<Service> {
  let current = await start();
  let stopping = false;
  const restarts: number[] = [];
  const report = async (line: string) => {
    const stamped = `${new Date().toISOString()} ${line}\n`;
    console.error(stamped.trimEnd());
    if (options.logFile) {
      await Deno.writeTextFile(options.logFile, stamped, { append: true }).catch(() => {});
    }
  };
  const watch = async (service: Service) => {
    const { code, signal } = await service.process.status;
    if (stopping) return;
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && restarts[0] < now - 60_000) restarts.shift();
    const why = signal ? `signal ${signal}` : `code ${code}`;
    if (restarts.length > (options.maxRestartsPerMinute ?? 5)) {
      await report(`${service.name} exited (${why}) and keeps crashing; not restarting it again`);
      return;
    }
    await report(`${service.name} exited (${why}); restarting it`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Ctrl-C reaches every child of the terminal's process group before the stack stops them,
    // so a piece may die just before stop(): never leave a replacement running after it.
    if (stopping) return;
    try {
      const next = await start();
      if (stopping) return void await next.stop();
      current = next;
      await report(`${service.name} restarted`);
      watch(current);
    } catch (error) {
      await report(`${service.name} could not be restarted: ${(error as Error).message}`);
    }
  };
  watch(current);
  return {
    get name() {
      return current.name;
    },
    get process() {
      return current.process;
    },
    get exited() {
      return current.exited;
    },
    async stop(graceMs?: number) {
      stopping = true;
      await current.stop(graceMs);
    },
  };
}
