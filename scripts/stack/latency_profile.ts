/**
 * Latency profiles for the S3 proxy (fault_proxy.ts): how long real S3 takes per operation,
 * so the local stack and the benchmarks can play a bucket across a network instead of an
 * emulator on loopback. A profile is written as `S3_LATENCY`:
 *
 * - `off` (or empty): no delay, no proxy (the default);
 * - `aws`: a nearby AWS region — a ListObjectsV2 page 100 ms, HEAD and GET's first byte 25 ms,
 *   PUT 30 ms plus the body at 800 Mbit/s (100 MB/s), DELETE 25 ms, jitter ±20%, no SlowDown;
 * - explicit values, alone or after `aws`: `list=100,head=25,put=30,bandwidth_mbps=800,
 *   jitter=0.2,slowdown=0.01` (`aws,list=5` is the `aws` profile with 5 ms pages). Names:
 *   `list`, `head`, `get`, `put`, `delete`, `other` (ms), `bandwidth_mbps` (0: no transfer
 *   time), `jitter` (fraction, 0–1), `slowdown` (share of requests answered `503 SlowDown`,
 *   0–1), `seed` (the jitter's and SlowDown's random sequence; same seed, same sequence).
 *
 * {@linkcode formatLatencyProfile} writes a profile back as that syntax, so what `npm run
 * status` prints can be pasted as `S3_LATENCY=…` to get the same profile again.
 *
 * @module
 */

/** The classes of S3 request a profile times. */
export type LatencyClass = "list" | "head" | "get" | "put" | "delete" | "other";

export const LATENCY_CLASSES: readonly LatencyClass[] = [
  "list",
  "head",
  "get",
  "put",
  "delete",
  "other",
];

/** How slow the proxy makes S3. */
export interface LatencyProfile {
  /** `aws` when built from it, else `custom`. */
  name: "aws" | "custom";
  /** Delay per request class, in ms (GET: until the first byte of the answer). */
  ms: Record<LatencyClass, number>;
  /** Request bodies (PUT, multipart parts) take `bytes × 8 / (bandwidthMbps × 10⁶)` s; 0: none. */
  bandwidthMbps: number;
  /** Each delay is scaled by a uniform factor in `[1 − jitter, 1 + jitter]`. */
  jitter: number;
  /** Share of requests answered `503 SlowDown` (after their delay) instead of forwarded. */
  slowdown: number;
  /** Seed of the jitter's and SlowDown's pseudo-random sequence. */
  seed: number;
}

/** The `aws` profile: S3 from a nearby region (see the module doc). */
export const AWS_PROFILE: LatencyProfile = Object.freeze({
  name: "aws",
  ms: Object.freeze({ list: 100, head: 25, get: 25, put: 30, delete: 25, other: 25 }),
  bandwidthMbps: 800,
  jitter: 0.2,
  slowdown: 0,
  seed: 1,
}) as LatencyProfile;

const NUMERIC_NAMES = [...LATENCY_CLASSES, "bandwidth_mbps", "jitter", "slowdown", "seed"];

/** A mistake in an `S3_LATENCY` value; the message names the value and what is wrong. */
export class LatencyProfileError extends Error {
  constructor(spec: string, detail: string) {
    super(`S3_LATENCY="${spec}" is not a latency profile: ${detail}`);
    this.name = "LatencyProfileError";
  }
}

/**
 * Parses an `S3_LATENCY` value; `undefined` for `off` or an empty value.
 *
 * @throws {LatencyProfileError} naming the first part it cannot read.
 * @example
 * ```ts
 * parseLatencyProfile("aws,jitter=0")?.ms.list; // 100
 * parseLatencyProfile("list=100,slowdown=0.01")?.ms.head; // 0
 * ```
 */
export function parseLatencyProfile(spec: string | undefined): LatencyProfile | undefined {
  const text = (spec ?? "").trim();
  if (text === "" || text === "off") return undefined;
  const parts = text.split(",").map((part) => part.trim());
  const fromAws = parts[0] === "aws";
  const profile: LatencyProfile = fromAws ? { ...AWS_PROFILE, ms: { ...AWS_PROFILE.ms } } : {
    name: "custom",
    ms: { list: 0, head: 0, get: 0, put: 0, delete: 0, other: 0 },
    bandwidthMbps: 0,
    jitter: 0,
    slowdown: 0,
    seed: 1,
  };
  for (const part of fromAws ? parts.slice(1) : parts) {
    const match = /^([a-z_]+)=(.*)$/.exec(part);
    if (!match) {
      throw new LatencyProfileError(
        text,
        `"${part}" is not name=value (a profile name, off or aws, may only come first)`,
      );
    }
    const [, name, raw] = match;
    if (!NUMERIC_NAMES.includes(name)) {
      throw new LatencyProfileError(
        text,
        `unknown setting "${name}" (known: ${NUMERIC_NAMES.join(", ")})`,
      );
    }
    const value = raw.trim() === "" ? NaN : Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new LatencyProfileError(text, `${name} must be a number ≥ 0, got "${raw}"`);
    }
    if ((name === "jitter" || name === "slowdown") && value > 1) {
      throw new LatencyProfileError(text, `${name} is a fraction between 0 and 1, got "${raw}"`);
    }
    if (name === "seed" && !Number.isInteger(value)) {
      throw new LatencyProfileError(text, `seed must be a whole number, got "${raw}"`);
    }
    if (name === "bandwidth_mbps") profile.bandwidthMbps = value;
    else if (name === "jitter") profile.jitter = value;
    else if (name === "slowdown") profile.slowdown = value;
    else if (name === "seed") profile.seed = value;
    else profile.ms[name as LatencyClass] = value;
  }
  return profile;
}

/**
 * The profile as an `S3_LATENCY` value that parses back to it (`off` when absent): shell-safe,
 * for `npm run status`.
 */
export function formatLatencyProfile(profile: LatencyProfile | undefined): string {
  if (!profile) return "off";
  return [
    ...(profile.name === "aws" ? ["aws"] : []),
    ...LATENCY_CLASSES.map((name) => `${name}=${profile.ms[name]}`),
    `bandwidth_mbps=${profile.bandwidthMbps}`,
    `jitter=${profile.jitter}`,
    `slowdown=${profile.slowdown}`,
    `seed=${profile.seed}`,
  ].join(",");
}

/** The profile in words, for the `npm start` banner: `aws (list 100 ms, …)`. */
export function describeLatencyProfile(profile: LatencyProfile | undefined): string {
  if (!profile) return "off";
  const { ms } = profile;
  const bandwidth = profile.bandwidthMbps ? ` + body at ${profile.bandwidthMbps} Mbit/s` : "";
  return `${profile.name} (list ${ms.list} ms, head ${ms.head} ms, get first byte ${ms.get} ms, ` +
    `put ${ms.put} ms${bandwidth}, delete ${ms.delete} ms, other ${ms.other} ms, jitter ±${
      Math.round(profile.jitter * 100)
    }%, SlowDown ${+(profile.slowdown * 100).toFixed(3)}%)`;
}

/**
 * A seeded pseudo-random sequence in [0, 1) (mulberry32): the same seed gives the same delays
 * and SlowDowns, so a test can rely on them.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the proxy does to one request under a profile. */
export interface LatencyDecision {
  /** How long to wait before answering or forwarding. */
  delayMs: number;
  /** Answer `503 SlowDown` instead of forwarding. */
  slowDown: boolean;
}

/**
 * Decides each request's delay and SlowDown from a profile and its own random sequence.
 *
 * @example
 * ```ts
 * const plan = latencyPlanner(parseLatencyProfile("aws,jitter=0")!);
 * plan("put", 1_000_000); // { delayMs: 40, slowDown: false }: 30 ms + 1 MB at 800 Mbit/s
 * ```
 */
export function latencyPlanner(
  profile: LatencyProfile,
): (kind: LatencyClass, bodyBytes?: number) => LatencyDecision {
  const random = seededRandom(profile.seed);
  return (kind, bodyBytes = 0) => {
    const factor = 1 + profile.jitter * (2 * random() - 1);
    const transferMs = profile.bandwidthMbps && bodyBytes > 0
      ? (bodyBytes * 8) / (profile.bandwidthMbps * 1000)
      : 0;
    const slowDown = profile.slowdown > 0 && random() < profile.slowdown;
    return { delayMs: Math.max(0, profile.ms[kind] * factor + transferMs), slowDown };
  };
}
