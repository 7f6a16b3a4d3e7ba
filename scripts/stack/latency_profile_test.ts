import assert from "node:assert/strict";
import {
  AWS_PROFILE,
  describeLatencyProfile,
  formatLatencyProfile,
  latencyPlanner,
  LatencyProfileError,
  parseLatencyProfile,
} from "./latency_profile.ts";

Deno.test("parseLatencyProfile() is off for an empty value and for off", () => {
  assert.equal(parseLatencyProfile(undefined), undefined);
  assert.equal(parseLatencyProfile(""), undefined);
  assert.equal(parseLatencyProfile(" off "), undefined);
});

Deno.test("parseLatencyProfile() reads aws, explicit values, and aws with overrides", () => {
  assert.deepEqual(parseLatencyProfile("aws"), AWS_PROFILE);
  const custom = parseLatencyProfile(
    "list=100,head=25,put=30,bandwidth_mbps=800,jitter=0.2,slowdown=0.01",
  )!;
  assert.equal(custom.name, "custom");
  assert.deepEqual(custom.ms, { list: 100, head: 25, get: 0, put: 30, delete: 0, other: 0 });
  assert.deepEqual(
    [custom.bandwidthMbps, custom.jitter, custom.slowdown, custom.seed],
    [800, 0.2, 0.01, 1],
  );
  const fast = parseLatencyProfile("aws, list=5, jitter=0, seed=7")!;
  assert.equal(fast.name, "aws");
  assert.deepEqual([fast.ms.list, fast.ms.head, fast.jitter, fast.seed], [5, 25, 0, 7]);
  assert.equal(AWS_PROFILE.ms.list, 100, "the shared aws profile is left as it was");
});

Deno.test("parseLatencyProfile() names what is wrong with a bad value", () => {
  const refused = (spec: string, pattern: RegExp) =>
    assert.throws(() => parseLatencyProfile(spec), (error: unknown) => {
      assert.ok(error instanceof LatencyProfileError);
      assert.match(
        error.message,
        new RegExp(`^S3_LATENCY="${spec.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"`),
      );
      assert.match(error.message, pattern);
      return true;
    });
  refused("azure", /"azure" is not name=value/);
  refused("list=100,aws", /"aws" is not name=value.*may only come first/);
  refused("lists=100", /unknown setting "lists" \(known: list, head, get, put, delete, other/);
  refused("list=fast", /list must be a number ≥ 0, got "fast"/);
  refused("list=", /list must be a number ≥ 0, got ""/);
  refused("head=-1", /head must be a number ≥ 0/);
  refused("jitter=1.5", /jitter is a fraction between 0 and 1/);
  refused("slowdown=2", /slowdown is a fraction between 0 and 1/);
  refused("seed=1.5", /seed must be a whole number/);
});

Deno.test("formatLatencyProfile() writes a value that parses back to the same profile", () => {
  assert.equal(formatLatencyProfile(undefined), "off");
  for (const spec of ["aws", "aws,list=5,slowdown=0.5,seed=3", "put=30,bandwidth_mbps=100"]) {
    const profile = parseLatencyProfile(spec)!;
    const written = formatLatencyProfile(profile);
    assert.doesNotMatch(written, /\s/, "shell-safe in status.env");
    assert.deepEqual(parseLatencyProfile(written), profile);
  }
});

Deno.test("describeLatencyProfile() says each delay in words", () => {
  assert.equal(describeLatencyProfile(undefined), "off");
  assert.equal(
    describeLatencyProfile(AWS_PROFILE),
    "aws (list 100 ms, head 25 ms, get first byte 25 ms, put 30 ms + body at 800 Mbit/s, " +
      "delete 25 ms, other 25 ms, jitter ±20%, SlowDown 0%)",
  );
});

Deno.test("latencyPlanner() delays each class by its own time, plus a PUT's transfer", () => {
  const plan = latencyPlanner(parseLatencyProfile("aws,jitter=0")!);
  assert.deepEqual(plan("list"), { delayMs: 100, slowDown: false });
  assert.deepEqual(plan("head"), { delayMs: 25, slowDown: false });
  assert.deepEqual(plan("delete"), { delayMs: 25, slowDown: false });
  // 1 MB at 800 Mbit/s is 10 ms on top of the PUT's 30.
  assert.deepEqual(plan("put", 1_000_000), { delayMs: 40, slowDown: false });
});

Deno.test("latencyPlanner() jitters within ±jitter, the same way for the same seed", () => {
  const delays = (seed: number) => {
    const plan = latencyPlanner(parseLatencyProfile(`aws,seed=${seed}`)!);
    return Array.from({ length: 500 }, () => plan("list").delayMs);
  };
  const first = delays(42);
  assert.deepEqual(delays(42), first, "same seed, same delays");
  assert.notDeepEqual(delays(43), first);
  assert.ok(first.every((ms) => ms >= 80 && ms <= 120), "within 100 ms ± 20%");
  assert.ok(Math.min(...first) < 85 && Math.max(...first) > 115, "spread over the range");
});

Deno.test("latencyPlanner() answers SlowDown at about the configured rate", () => {
  const plan = latencyPlanner(parseLatencyProfile("list=1,slowdown=0.25,seed=9")!);
  const slowDowns = Array.from({ length: 4000 }, () => plan("list").slowDown).filter(Boolean);
  assert.ok(slowDowns.length > 850 && slowDowns.length < 1150, `${slowDowns.length} of 4000`);
  const never = latencyPlanner(parseLatencyProfile("aws")!);
  assert.ok(Array.from({ length: 1000 }, () => never("get").slowDown).every((s) => !s));
  const always = latencyPlanner(parseLatencyProfile("slowdown=1")!);
  assert.ok(Array.from({ length: 1000 }, () => always("get").slowDown).every(Boolean));
});
