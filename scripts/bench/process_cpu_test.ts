import assert from "node:assert/strict";
import { parseProcStat, type ProcessInfo, stackCpuMs } from "./process_cpu.ts";

Deno.test("parseProcStat() reads the parent and CPU past a command name with spaces", () => {
  assert.deepEqual(
    parseProcStat("42 (deno (x) y) S 7 42 42 0 -1 4194304 10 0 0 0 150 25 0 0 20 0 9"),
    { ppid: 7, cpuMs: 1_750 },
  );
});

Deno.test("stackCpuMs() charges each process to its part of the stack, Postgres by its port", () => {
  const p = (pid: number, ppid: number, command: string, cpuMs: number): ProcessInfo => ({
    pid,
    ppid,
    command,
    cpuMs,
  });
  const processes = [
    p(100, 1, "deno run -A scripts/bench/main.ts", 1_000),
    p(101, 100, "deno serve --port=4001 upload-to-s3/index.ts", 300),
    p(102, 100, "deno serve --port=4002 s3-image-service/index.ts", 20),
    p(103, 100, "node --openssl-legacy-provider scripts/stack/s3_emulator.mjs", 900),
    p(104, 103, "node event_delivery.mjs", 5),
    p(200, 1, "/usr/lib/postgresql/17/bin/postgres -D /tmp/x -p 5433 -k /tmp/s", 40),
    p(201, 200, "postgres: postgres postgres 127.0.0.1(5000) idle", 60),
    p(300, 1, "/usr/lib/postgresql/17/bin/postgres -D /tmp/y -p 5999 -k /tmp/t", 999),
    p(400, 1, "deno test someone else's", 999),
  ];
  assert.deepEqual(stackCpuMs({ workerPid: 101, dbPort: 5433 }, processes, 100), {
    bench: 1_000,
    worker: 300,
    emulator: 905,
    postgres: 100,
    other: 20,
  });
});
