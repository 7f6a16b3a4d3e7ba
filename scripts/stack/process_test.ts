import assert from "node:assert/strict";
import { freePort, httpAnswers, spawnService, superviseService } from "./process.ts";

Deno.test("superviseService() restarts a piece that dies and says so in the stack log", async () => {
  const port = freePort();
  const logFile = await Deno.makeTempFile({ suffix: ".log" });
  const url = `http://127.0.0.1:${port}/`;
  const start = () =>
    spawnService("tiny-server", [
      Deno.execPath(),
      "eval",
      `Deno.serve({ port: ${port}, hostname: "127.0.0.1", onListen() {} }, () => new Response("ok"))`,
    ], { ready: () => httpAnswers(url) });
  const service = await superviseService(start, { logFile });
  try {
    const first = service.process.pid;
    service.process.kill("SIGKILL");
    const deadline = Date.now() + 20_000;
    while (!(service.process.pid !== first && await httpAnswers(url))) {
      assert.ok(Date.now() < deadline, "the piece was not restarted");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const log = await Deno.readTextFile(logFile);
    assert.match(log, /tiny-server exited \(signal SIGKILL\); restarting it/);
    assert.match(log, /tiny-server restarted/);
  } finally {
    await service.stop();
    await Deno.remove(logFile);
  }
  assert.equal(await httpAnswers(url), false, "a deliberate stop is not restarted");
});
