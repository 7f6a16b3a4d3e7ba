/**
 * A synthetic bucket of N product-image keys, deterministic from a seed, for the scale
 * benchmarks' listing stand-in (listing_standin.ts): a million keys without a million files.
 *
 * Keys are generated on demand in S3's order (UTF-8 byte order, which is UTF-16 order for these
 * ASCII names), never all held at once: the space keeps one 32-bit count per product. Products
 * fall in four families, in this byte order — `1000000…` (digits only, 70%), `A&B-000000…`
 * (10%, an `&` every XML answer must escape), `SKU_000000…` (10%), `p000000…` (10%) — each
 * numbered at a fixed width, so a family's names sort as its numbers. A product has one to six
 * images chosen by the seed (`.jpg`, `.png`, `.webp`, `-2.jpg`, `-2.webp`, `-3.jpg`); about one
 * product in 250 also has a name the naming rules refuse: `1000123.txt` (not an image) or
 * `1000123/` (a folder marker).
 *
 * @module
 */

/** Suffixes a product's names end with, in byte order (`-` < `.` < `/`). */
const SUFFIXES = ["-2.jpg", "-2.webp", "-3.jpg", ".jpg", ".png", ".txt", ".webp", "/"];
const IMAGE_BITS = [0, 1, 2, 3, 4, 6];
const TXT_BIT = 5;
const FOLDER_BIT = 7;

/** Families of product names and their share of the products, in byte order. */
const FAMILIES: Array<{ prefix: string; share: number }> = [
  { prefix: "", share: 0.7 },
  { prefix: "A&B-", share: 0.1 },
  { prefix: "SKU_", share: 0.1 },
  { prefix: "p", share: 0.1 },
];

/** One listed object of the space. */
export interface SyntheticObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

/** A 32-bit hash of (seed, n): the same inputs always give the same bits. */
function hash(seed: number, n: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(n + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

function popcount(bits: number): number {
  let count = 0;
  for (let b = bits; b; b &= b - 1) count++;
  return count;
}

/**
 * The keys of a synthetic bucket.
 *
 * @example
 * ```ts
 * const space = new SyntheticKeySpace(5_000, 1);
 * space.key(0); // "1000000-2.webp" (say): the first key in byte order
 * space.indexAfter(space.key(10)); // 11
 * ```
 */
export class SyntheticKeySpace {
  /** How many keys the space holds. */
  readonly count: number;
  readonly seed: number;
  /** `starts[p]`: index of product p's first key; `starts[products]` is `count`. */
  readonly #starts: Uint32Array;
  readonly #products: number;
  readonly #width: number;
  readonly #familyStarts: number[];

  constructor(count: number, seed = 1) {
    if (!Number.isSafeInteger(count) || count < 0 || count > 2 ** 31) {
      throw new RangeError(`A key space holds 0 to 2^31 keys, not ${count}`);
    }
    this.count = count;
    this.seed = seed;
    const starts = new Uint32Array(count + 1);
    let products = 0;
    for (let total = 0; total < count; products++) {
      starts[products] = total;
      total += popcount(this.#mask(products));
    }
    starts[products] = count;
    this.#starts = starts.slice(0, products + 1);
    this.#products = products;
    this.#width = Math.max(6, String(products).length);
    let at = 0;
    this.#familyStarts = FAMILIES.map(({ share }) => {
      const start = at;
      at += Math.round(share * products);
      return start;
    });
  }

  /** Which suffixes product `p` has (bits of {@linkcode SUFFIXES}). */
  #mask(p: number): number {
    const h = hash(this.seed, p);
    // One to six images: bits 0–5 of the hash pick among the image suffixes, `.jpg` when none.
    let mask = 0;
    for (let i = 0; i < IMAGE_BITS.length; i++) {
      // Each extra variant with probability 1/4, the main image always.
      if (((h >>> (2 * i)) & 3) === 0) mask |= 1 << IMAGE_BITS[i];
    }
    mask |= 1 << (h % 3 === 0 ? 4 : h % 3 === 1 ? 3 : 6); // .png, .jpg or .webp
    const rare = (h >>> 20) % 500;
    if (rare === 0) mask |= 1 << TXT_BIT;
    if (rare === 1) mask |= 1 << FOLDER_BIT;
    return mask;
  }

  /** The name product `p`'s keys start with. */
  #productName(p: number): string {
    let family = FAMILIES.length - 1;
    while (family > 0 && p < this.#familyStarts[family]) family--;
    const n = p - this.#familyStarts[family];
    return family === 0
      ? String(10 ** this.#width + n)
      : FAMILIES[family].prefix + String(n).padStart(this.#width, "0");
  }

  /** The product holding key `index`. */
  #productOf(index: number): number {
    let low = 0;
    let high = this.#products - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.#starts[mid] <= index) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /** The key at `index` (0 ≤ index < count) in byte order. */
  key(index: number): string {
    if (!(index >= 0 && index < this.count)) {
      throw new RangeError(`No key at ${index} in a space of ${this.count}`);
    }
    const p = this.#productOf(index);
    let nth = index - this.#starts[p];
    const mask = this.#mask(p);
    for (let bit = 0; bit < SUFFIXES.length; bit++) {
      if (mask & (1 << bit) && nth-- === 0) return this.#productName(p) + SUFFIXES[bit];
    }
    throw new Error(`Key space inconsistent at ${index}`); // unreachable: counts come from masks
  }

  /** The object at `index`: its key, and a size, ETag and date drawn from the seed. */
  object(index: number): SyntheticObject {
    const key = this.key(index);
    const h = hash(this.seed ^ 0x5bd1e995, index);
    const etag = [h, hash(h, 1), hash(h, 2), hash(h, 3)]
      .map((word) => word.toString(16).padStart(8, "0")).join("");
    return {
      key,
      size: 20_000 + (h % 480_000),
      etag,
      lastModified: new Date(Date.UTC(2026, 0, 1) + (hash(h, 4) % (300 * 86_400)) * 1000),
    };
  }

  /** How many keys sort at or before `name`: the index of the first key after it. */
  indexAfter(name: string): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.key(mid) <= name) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** How many keys sort before `name`: the index of the first key at or after it. */
  indexFrom(name: string): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.key(mid) < name) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The index of `key`, or -1 when the space has no such key. */
  indexOf(key: string): number {
    const index = this.indexFrom(key);
    return index < this.count && this.key(index) === key ? index : -1;
  }
}
