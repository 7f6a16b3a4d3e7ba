import assert from "node:assert/strict";
import { compareKeys, ladderBoundaries, midKey } from "./key_space.ts";

Deno.test("compareKeys() orders keys as S3 lists them: by UTF-8 bytes, astral characters last", () => {
  assert.equal(compareKeys("a", "b"), -1);
  assert.equal(compareKeys("ab", "a"), 1);
  assert.equal(compareKeys("x", "x"), 0);
  // U+FF5E sorts before U+1F600 in UTF-8, after it in UTF-16 units.
  assert.equal(compareKeys("\uff5e.jpg", "\u{1f600}.jpg"), -1);
  assert.equal("\uff5e.jpg" < "\u{1f600}.jpg", false, "the case JavaScript's < gets wrong");
});

Deno.test("midKey() halves a run of numbered names among digits, not among bytes", () => {
  assert.equal(midKey("bench-0001000.jpg", "bench-001"), "bench-0005");
  assert.equal(midKey("bench-01", "bench-1"), "bench-05");
  assert.equal(midKey("1999.jpg", null), "5");
  assert.equal(midKey("bench-001", "bench-01"), "bench-005");
});

Deno.test("midKey() always answers a key strictly between its bounds, or null", () => {
  const cases: Array<[string, string | null]> = [
    ["a", "b"],
    ["a", "a0"],
    ["14000.jpg", "14000-2.webp"],
    ["zzz", null],
    ["~~", null],
    ["k-00009.jpg", "k-00010.jpg"],
    ["x", "x\u0000"],
  ];
  for (const [low, high] of cases) {
    const mid = midKey(low, high);
    if (mid === null) continue;
    assert.ok(compareKeys(mid, low) > 0, `${mid} after ${low}`);
    if (high !== null) assert.ok(compareKeys(mid, high) < 0, `${mid} before ${high}`);
  }
  assert.equal(midKey("x", "x\u0000"), null, "nothing lies between a key and its next");
});

Deno.test("ladderBoundaries() cuts after a first page at the next sibling of each place above it", () => {
  assert.deepEqual(ladderBoundaries("bench-0000000.jpg", "bench-0000999.jpg", 8), [
    "bench-0001",
    "bench-001",
    "bench-01",
    "bench-1",
    "bench.",
  ]);
  assert.deepEqual(ladderBoundaries("10000.jpg", "10999.jpg", 8), ["11", "2"]);
  assert.deepEqual(ladderBoundaries("bench-0000000.jpg", "bench-0000999.jpg", 2), [
    "bench-0001",
    "bench-001",
  ]);
  const cuts = ladderBoundaries("a.jpg", "a.jpg", 8);
  assert.ok(cuts.every((cut, i) => compareKeys(cut, i ? cuts[i - 1] : "a.jpg") > 0));
});

Deno.test("ladderBoundaries() still cuts a page of mixed names after its last key's first character", () => {
  assert.deepEqual(ladderBoundaries("A0.jpg", "rb1234-00003.jpg", 8), ["s"]);
});
