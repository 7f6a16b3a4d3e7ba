import assert from "node:assert/strict";
import { filenameProblem } from "./names.ts";
import { isPlainImageName } from "./plain_names.ts";

/** Every printable ASCII character at the start, middle and end of a name, doubled, by a dot. */
function asciiNames(): string[] {
  const names = new Set<string>();
  for (let code = 0x20; code <= 0x7e; code++) {
    const c = String.fromCharCode(code);
    for (
      const name of [
        `${c}x.jpg`,
        `x${c}.jpg`,
        `x${c}${c}y.png`,
        `x.${c}y.webp`,
        `x${c}.y.gif`,
        `x.jpg${c}`,
        `${c}.jpeg`,
        `A&B-${c}14000-2.avif`,
        `x.${c}.jpg`,
        `${c}${c}.JPG`,
      ]
    ) names.add(name);
  }
  for (const n of [251, 252]) names.add(`${"&".repeat(n)}.jpg`);
  return [...names];
}

Deno.test("isPlainImageName() accepts no name the rules refuse", () => {
  const wrong = asciiNames().filter((n) => isPlainImageName(n) && filenameProblem(n) !== undefined);
  assert.deepEqual(wrong, []);
});

Deno.test("isPlainImageName() accepts every printable ASCII name the rules accept", () => {
  const missed = asciiNames().filter((n) =>
    !isPlainImageName(n) && filenameProblem(n) === undefined
  );
  assert.deepEqual(missed, []);
  assert.ok(asciiNames().filter((n) => filenameProblem(n) !== undefined).length > 100);
});

Deno.test("isPlainImageName() leaves names outside printable ASCII to the full rules", () => {
  for (const name of ["café.jpg", "x\u00a0.jpg", "x\t.jpg", "\u0430.jpg"]) {
    assert.equal(isPlainImageName(name), false, name);
  }
});
