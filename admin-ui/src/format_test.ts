import assert from "node:assert/strict";
import { formatBytes, formatCount, formatDuration, formatRate } from "./format.ts";

Deno.test("formatBytes() uses powers of 1024 with one decimal below 10", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KB");
  assert.equal(formatBytes(10 * 1024 * 1024), "10 MB");
  assert.equal(formatBytes(null), "—");
});

Deno.test("formatDuration() reads as seconds, minutes or hours", () => {
  assert.equal(formatDuration(42_000), "42 s");
  assert.equal(formatDuration(185_000), "3 min 5 s");
  assert.equal(formatDuration(3_720_000), "1 h 2 min");
  assert.equal(formatDuration(-1), "—");
});

Deno.test("formatCount() and formatRate() show an absent value as a dash", () => {
  assert.equal(formatCount(12345), "12,345");
  assert.equal(formatCount(undefined), "—");
  assert.equal(formatRate(0), "—");
  assert.equal(formatRate(2048), "2.0 KB/s");
});
