/**
 * Byte helpers for tests: read a fixture from `tests/testdata/`, encode text, join parts.
 *
 * @module
 */

/** The bytes of `tests/testdata/<name>`. */
export function fixture(name: string): Uint8Array {
  return Deno.readFileSync(new URL(`../testdata/${name}`, import.meta.url));
}

/** UTF-8 bytes of `text`. */
export const text = (value: string): Uint8Array => new TextEncoder().encode(value);

/** The parts one after another, in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
