/**
 * The bucket's key space as a partitioned rebuild sees it: S3's order (UTF-8 bytes), where to
 * cut the keys after a job's first page into ranges, and where to split a range that stays busy.
 *
 * Nothing here talks to S3: it proposes candidate keys, and the caller confirms them with
 * `StartAfter` probes (`ranges.ts`). A candidate need not be a key in the bucket: a range covers
 * the keys after its start up to and including its end, so any string is a valid boundary; a bad
 * one only makes a range small or empty, never loses or repeats a key.
 *
 * Product images are mostly named by number (`14000.jpg`, `14000-2.webp`, `bench-0004711.jpg`),
 * so the candidates follow the *kind* of character at the place they cut (digits among digits,
 * letters among letters): cutting `0`…`9` in the middle halves a run of numbered keys, where
 * cutting by byte value would land among characters no name uses.
 *
 * @module
 */

/**
 * Compares two keys in S3's listing order: their UTF-8 bytes, which is code point order.
 * JavaScript's `<` compares UTF-16 units and differs from it only when a key holds characters
 * above U+FFFF next to ones in U+E000–U+FFFF; that case is compared by code points.
 */
export function compareKeys(a: string, b: string): number {
  if (!/[\ud800-\uffff]/.test(a) && !/[\ud800-\uffff]/.test(b)) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const diff = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return x.length - y.length === 0 ? 0 : x.length < y.length ? -1 : 1;
}

/** Characters product names use, by kind, each in byte order. */
const KINDS = ["0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"];
/** Every printable ASCII character, for a place whose character is of no kind above. */
const PRINTABLE = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join("");

const kindOf = (char: string | undefined): string | undefined =>
  char === undefined ? undefined : KINDS.find((kind) => kind.includes(char));

/** The characters strictly between `low` and `high` (either may be open) in `alphabet`. */
function between(alphabet: string, low?: string, high?: string): string[] {
  return [...alphabet].filter((char) =>
    (low === undefined || char > low) && (high === undefined || char < high)
  );
}

/**
 * A key roughly halfway between `low` and `high` (null: the end of the bucket), strictly after
 * `low` and before `high`, or null when none is short enough to be worth a range (keys of
 * ASCII names only; a place holding another character is not cut).
 *
 * @example
 * ```ts
 * midKey("bench-0001000.jpg", "bench-001"); // "bench-0005"
 * midKey("1999.jpg", null); // "5"
 * ```
 */
export function midKey(low: string, high: string | null): string | null {
  let i = 0;
  while (high !== null && i < low.length && i < high.length && low[i] === high[i]) i++;
  const prefix = low.slice(0, i);
  const a = low[i];
  const b = high === null ? undefined : high[i];
  if (a === undefined) return null; // low is a prefix of high: nothing short lies between
  // Between the two characters: first among a's own kind, else among printable ones.
  for (const alphabet of [kindOf(a), PRINTABLE]) {
    if (!alphabet) continue;
    const choices = between(alphabet, a, b);
    if (choices.length) return checked(low, high, prefix + choices[(choices.length - 1) >> 1]);
  }
  // Adjacent characters (or none above a): halve the rest of low's own subtree instead; when low
  // ends here, the middle of the next place, guessing it holds a's kind too (`0`…`9` after `0`).
  if (i >= 64) return null;
  const rest = low.slice(i + 1);
  const alphabet = kindOf(a) ?? PRINTABLE;
  const deeper = rest ? midKey(rest, null) : alphabet[alphabet.length >> 1];
  return deeper === null ? null : checked(low, high, prefix + a + deeper);
}

function checked(low: string, high: string | null, key: string): string | null {
  const inside = compareKeys(key, low) > 0 && (high === null || compareKeys(key, high) < 0);
  return inside ? key : null;
}

/**
 * Where to cut the keys after a job's first page: candidate boundaries in increasing order,
 * each the first key of a next "sibling" of `last` at a shallower place, so the ranges grow
 * about tenfold each for numbered names (`bench-0001`, `bench-001`, `bench-01`, then
 * `bench.`: everything after this run of names). `first` and `last` are the first page's first
 * and last keys: the places where they differ are inside one range already and get no cut.
 * At most `limit` candidates, the deepest first.
 *
 * @example
 * ```ts
 * ladderBoundaries("bench-0000000.jpg", "bench-0000999.jpg", 8);
 * // ["bench-0001", "bench-001", "bench-01", "bench-1", "bench."]
 * ```
 */
export function ladderBoundaries(first: string, last: string, limit: number): string[] {
  let shared = 0;
  while (shared < first.length && shared < last.length && first[shared] === last[shared]) {
    shared++;
  }
  const out: string[] = [];
  const kind = kindOf(last[shared - 1]);
  for (let depth = shared - 1; depth >= 0 && out.length < limit; depth--) {
    const char = last[depth];
    const next = String.fromCodePoint(char.codePointAt(0)! + 1);
    out.push(last.slice(0, depth) + next);
    // Past the run of one kind the page varied in, one cut covers everything after it.
    if (kindOf(char) !== kind || kind === undefined) break;
  }
  // A page whose first and last keys differ in their first character (a bucket of mixed names)
  // varied at the top: one cut after the last key's first character still splits the rest.
  if (shared === 0 && last.length) {
    out.push(String.fromCodePoint(last.codePointAt(0)! + 1));
  }
  return out.filter((key) => compareKeys(key, last) > 0);
}
