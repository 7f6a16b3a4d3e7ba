/**
 * CPU time by process on a benchmark's stack, from Linux's /proc: where an upload's time goes
 * when every piece shares the same cores (the benchmark process with its client, the local
 * gateway and the S3 latency proxy; the function's worker; the S3 emulator; Postgres).
 *
 * @module
 */

/** Which processes count as which part of the stack. */
export interface StackProcesses {
  /** The function worker being measured. */
  workerPid: number;
  /** The port Postgres listens on (its postmaster's `-p`). */
  dbPort: number;
}

/** The parts {@linkcode stackCpuMs} reports, in the order it reports them. */
export const CPU_ROLES = ["bench", "worker", "emulator", "postgres", "other"] as const;
export type CpuRole = typeof CPU_ROLES[number];

/** What the role names mean, for report notes. */
export const CPU_ROLE_LABELS: Record<CpuRole, string> = {
  bench: "benchmark process (client, local gateway, S3 latency proxy)",
  worker: "function worker",
  emulator: "S3 emulator",
  postgres: "Postgres",
  other: "other stack processes",
};

/** One process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The command line, arguments joined by spaces. */
  command: string;
  /** User + system CPU so far, in ms (10 ms ticks). */
  cpuMs: number;
}

/**
 * Parses `/proc/<pid>/stat`: the parent pid and the CPU used (utime + stime, fields 14 and 15,
 * in 10 ms ticks). The command name in parentheses may hold spaces and parentheses, so fields
 * are counted from the last `)`.
 *
 * @example
 * ```ts
 * parseProcStat("42 (deno) S 7 42 42 0 -1 0 0 0 0 0 150 25 0 0"); // { ppid: 7, cpuMs: 1750 }
 * ```
 */
export function parseProcStat(stat: string): { ppid: number; cpuMs: number } {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(fields[1]), cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 };
}

/** Every process /proc lists now (those that vanish while being read are left out). */
export function listProcesses(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const { ppid, cpuMs } = parseProcStat(Deno.readTextFileSync(`/proc/${entry.name}/stat`));
      const command = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
      found.push({ pid: Number(entry.name), ppid, command, cpuMs });
    } catch { /* gone meanwhile */ }
  }
  return found;
}

/**
 * CPU used so far by each part of the stack, in ms, from `processes` (default: /proc now): this
 * process and everything it started, plus Postgres (started by `pg_ctl`, so not a child: found
 * by its postmaster's port, with that postmaster's children). Subtract two readings for a run.
 */
export function stackCpuMs(
  stack: StackProcesses,
  processes: ProcessInfo[] = listProcesses(),
  self = Deno.pid,
): Record<CpuRole, number> {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const postmaster = processes.find((p) =>
    /\bpostgres\b/.test(p.command) && p.command.includes(` -p ${stack.dbPort} `)
  );
  const role = new Map<number, CpuRole>([[self, "bench"]]);
  if (postmaster) role.set(postmaster.pid, "postgres");
  // Children inherit their parent's part, unless they are a part of their own.
  for (let grew = true; grew;) {
    grew = false;
    for (const p of processes) {
      if (role.has(p.pid)) continue;
      const parent = role.get(p.ppid);
      if (!parent) continue;
      role.set(
        p.pid,
        parent === "postgres"
          ? "postgres"
          : p.pid === stack.workerPid
          ? "worker"
          : p.command.includes("s3_emulator")
          ? "emulator"
          : parent === "bench"
          ? "other"
          : parent,
      );
      grew = true;
    }
  }
  const totals = Object.fromEntries(CPU_ROLES.map((name) => [name, 0])) as Record<
    CpuRole,
    number
  >;
  for (const [pid, name] of role) totals[name] += byPid.get(pid)?.cpuMs ?? 0;
  return totals;
}
