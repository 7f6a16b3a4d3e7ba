import assert from "node:assert/strict";
import { filenameProblem } from "../../../supabase/functions/_shared/images/names.ts";
import { SyntheticKeySpace } from "./key_space.ts";

Deno.test("SyntheticKeySpace lists N distinct keys in byte order, the same for the same seed", () => {
  const space = new SyntheticKeySpace(20_000, 7);
  const keys = Array.from({ length: space.count }, (_, i) => space.key(i));
  assert.equal(new Set(keys).size, 20_000);
  const bytes = (key: string) => [...new TextEncoder().encode(key)];
  const byteOrder = keys.toSorted((a, b) => {
    const [x, y] = [bytes(a), bytes(b)];
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  });
  assert.deepEqual(keys, byteOrder);
  const again = new SyntheticKeySpace(20_000, 7);
  assert.deepEqual(
    Array.from({ length: 50 }, (_, i) => again.key(i * 397)),
    keys.filter((_, i) => i % 397 === 0).slice(0, 50),
  );
  assert.notEqual(new SyntheticKeySpace(20_000, 8).key(5), keys[5]);
  assert.throws(() => space.key(20_000), /No key at 20000/);
});

Deno.test("SyntheticKeySpace is shaped like product images, with a few names the rules refuse", () => {
  const space = new SyntheticKeySpace(50_000, 1);
  const keys = Array.from({ length: space.count }, (_, i) => space.key(i));
  const refused = keys.filter((key) => filenameProblem(key) !== undefined);
  assert.ok(refused.length > 5 && refused.length < 500, `${refused.length} refused`);
  assert.ok(refused.every((key) => key.endsWith(".txt") || key.endsWith("/")));
  for (
    const shape of [
      /^1\d{6}\.jpg$/,
      /^1\d{6}-2\.webp$/,
      /^A&B-\d{6}\.png$/,
      /^SKU_\d{6}/,
      /^p\d{6}/,
    ]
  ) {
    assert.ok(keys.some((key) => shape.test(key)), `a key like ${shape}`);
  }
});

Deno.test("SyntheticKeySpace finds where a name falls: indexAfter, indexFrom, indexOf", () => {
  const space = new SyntheticKeySpace(5_000, 3);
  for (const index of [0, 1, 2_500, 4_999]) {
    const key = space.key(index);
    assert.equal(space.indexAfter(key), index + 1);
    assert.equal(space.indexFrom(key), index);
    assert.equal(space.indexOf(key), index);
  }
  assert.equal(space.indexOf("nope.jpg"), -1);
  assert.equal(space.indexAfter(""), 0);
  assert.equal(space.indexAfter("\u{10FFFF}"), 5_000);
  assert.equal(space.key(space.indexFrom("SKU_")).slice(0, 4), "SKU_");
});

Deno.test("SyntheticKeySpace holds a million keys in a few MB (one count per product)", () => {
  const before = Deno.memoryUsage();
  const space = new SyntheticKeySpace(1_000_000, 1);
  const after = Deno.memoryUsage();
  const grew = after.rss - before.rss + after.external - before.external;
  assert.ok(grew < 32 * 1024 * 1024, `grew ${Math.round(grew / 1024 / 1024)} MiB`);
  assert.equal(space.indexOf(space.key(999_999)), 999_999);
});
