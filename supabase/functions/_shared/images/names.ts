/**
 * Product image names: the same rules, in the same order and with the same words, as the SQL
 * API's `public.s3_cache_filename_problem()`, so a name is judged alike in psql, in an upload and
 * in a bucket listing. One corpus (tests/corpus/filenames.tsv) runs through both.
 *
 * It also turns a caller's name into the key an image is stored under ({@linkcode imageKey}).
 *
 * @module
 */
import { ERRORS } from "../errors.ts";
import { IMAGE_EXTENSIONS } from "./formats.ts";

const ALLOWED_EXTENSIONS_PROBLEM = (() => {
  const names = Object.keys(IMAGE_EXTENSIONS).map((extension) => `.${extension}`);
  return `only ${names.slice(0, -1).join(", ")} and ${names.at(-1)} images are allowed`;
})();

/** Longest accepted name in UTF-8 bytes: a direct upload's staging key adds 60 bytes, S3 allows 1,024. */
export const MAX_FILENAME_BYTES = 255;

/**
 * Where direct uploads stage their bytes before they are checked and published (upload-to-s3's
 * direct upload), expired by the bucket's lifecycle rule: a staging key never names an image of
 * the index, so live sync leaves its events out.
 */
export const STAGING_PREFIX = "_incoming/";

// Code points that make a name lie when displayed or break a path. Ranges as in the corpus header.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const ZERO_WIDTH = /[\u200b-\u200d\u2060\ufeff]/;
/**
 * Characters that display as nothing: Unicode's Default_Ignorable_Code_Point (soft hyphen U+00AD,
 * U+034F, Hangul fillers U+115F/U+1160/U+3164, variation selectors, tag characters U+E0000-E0FFF,
 * …) plus the line and paragraph separators U+2028/U+2029. SQL holds the same set as an explicit
 * list generated from this pattern (tests/corpus/unicode_sql.ts).
 */
export const INVISIBLE: RegExp = /[\p{Default_Ignorable_Code_Point}\u2028\u2029]/u;

/**
 * The scripts (ISO 15924 codes, as Unicode's Script property names them) a name's letters may
 * come from; Common (digits, punctuation, spaces, symbols), Inherited (combining marks) and
 * unassigned code points belong to none. The runtime's Unicode data decides (V8's, Unicode 16);
 * SQL holds the same table, generated from these patterns (tests/corpus/unicode_sql.ts).
 */
export const SCRIPT_CODES: readonly string[] = (
  "Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Bhks Bopo Brah Brai Bugi Buhd " +
  "Cakm Cans Cari Cham Cher Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym " +
  "Ethi Gara Geor Glag Gong Gonm Goth Gran Grek Gujr Gukh Guru Hang Hani Hano Hatr Hebr Hira " +
  "Hluw Hmng Hmnp Hung Ital Java Kali Kana Kawi Khar Khmr Khoj Kits Knda Krai Kthi Lana Laoo " +
  "Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani Marc Medf Mend Merc Mero Mlym " +
  "Modi Mong Mroo Mtei Mult Mymr Nagm Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Onao Orkh Orya " +
  "Osge Osma Ougr Palm Pauc Perm Phag Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr Sarb Saur " +
  "Sgnw Shaw Shrd Sidd Sind Sinh Sogd Sogo Sora Soyo Sund Sunu Sylo Syrc Tagb Takr Tale Talu " +
  "Taml Tang Tavt Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Todr Toto Tutg Ugar Vaii Vith Wara " +
  "Wcho Xpeo Xsux Yezi Yiii Zanb"
).split(" ");
const SCRIPT_PATTERNS = SCRIPT_CODES.map((code) =>
  [code, new RegExp(`\\p{Script=${code}}`, "u")] as const
);
/** A character of some script (not Common, Inherited or unassigned). */
// (Script=Unknown is unassigned, private-use and surrogate code points: Cn, Co, Cs.)
const IN_A_SCRIPT = /[^\p{Script=Common}\p{Script=Inherited}\p{Cn}\p{Co}\p{Cs}]/u;

/**
 * Script sets a name may use together, after UTS #39's "highly restrictive" level: one script
 * alone, or Latin with the scripts of Japanese (Han, Hiragana, Katakana), Chinese (Han, Bopomofo)
 * or Korean (Han, Hangul), so `iPhone 保护壳.jpg` passes and Latin with a Cyrillic `а` does not.
 */
export const ALLOWED_SCRIPT_MIXES: readonly (readonly string[])[] = [
  ["Latn", "Hani", "Hira", "Kana"],
  ["Latn", "Hani", "Bopo"],
  ["Latn", "Hani", "Hang"],
];

/** The script of one character (ISO 15924 code), or undefined for Common, Inherited, unassigned. */
export function scriptOf(character: string): string | undefined {
  if (!IN_A_SCRIPT.test(character)) return undefined;
  return SCRIPT_PATTERNS.find(([, pattern]) => pattern.test(character))?.[0];
}

/** Whether `name` mixes scripts beyond {@linkcode ALLOWED_SCRIPT_MIXES} (UTS #39 mixed-script). */
export function isMixedScript(name: string): boolean {
  if (!IN_A_SCRIPT.test(name)) return false;
  const scripts = new Set<string>();
  for (const character of name) {
    const script = scriptOf(character);
    if (script) scripts.add(script);
  }
  if (scripts.size <= 1) return false;
  return !ALLOWED_SCRIPT_MIXES.some((mix) => [...scripts].every((s) => mix.includes(s)));
}

/** The problem of a name holding an unpaired surrogate (JSON can carry one; Postgres cannot). */
export const UNPAIRED_SURROGATE_PROBLEM = "the name is not valid Unicode (an unpaired surrogate)";

const encoder = new TextEncoder();

/**
 * Why `filename` cannot name a product image, or `undefined` when it can. The rules apply to the
 * name's NFC form, in this order (the first that applies is the answer): empty, an unpaired
 * surrogate (TypeScript only: SQL text cannot hold one), over 255 UTF-8 bytes, path parts, a
 * leading dot, control, bidirectional, zero-width and other invisible characters, leading or
 * trailing white space, letters of scripts that must not mix, an extension that is not an
 * image's (compared in ASCII only). The same
 * words as SQL's `s3_cache_filename_problem()`; tests/corpus/filenames.tsv holds both to it.
 *
 * @example
 * ```ts
 * filenameProblem("a/../b.jpg"); // "path segments are not allowed"
 * filenameProblem("14000.jpg"); // undefined
 * ```
 */
export function filenameProblem(filename: string | null | undefined): string | undefined {
  if (filename === null || filename === undefined || filename === "") return "the name is empty";
  if (!filename.isWellFormed()) return UNPAIRED_SURROGATE_PROBLEM;
  const name = filename.normalize("NFC");
  if (encoder.encode(name).length > MAX_FILENAME_BYTES) {
    return `the name is longer than ${MAX_FILENAME_BYTES} bytes`;
  }
  if (name.includes("/") || name.includes("\\") || name.includes("..")) {
    return "path segments are not allowed";
  }
  if (name.startsWith(".")) return "the name must not start with a dot";
  if (CONTROL.test(name)) return "control characters are not allowed";
  if (BIDI.test(name)) return "bidirectional control characters are not allowed";
  if (ZERO_WIDTH.test(name)) return "zero-width characters are not allowed";
  if (INVISIBLE.test(name)) return "invisible characters are not allowed";
  if (name.trim() !== name) return "leading or trailing spaces are not allowed";
  // The extension is ASCII Latin by the last rule: a Greek or Cyrillic name keeps its `.jpg`.
  if (isMixedScript(stemOf(name))) return "letters from different scripts must not be mixed";
  if (!(extensionOf(name) in IMAGE_EXTENSIONS)) return ALLOWED_EXTENSIONS_PROBLEM;
  return undefined;
}

/**
 * The extension after the last dot, lower-cased in ASCII only (so `x.gİf` stays `gİf` and is
 * refused, whatever a locale would make of it), or "" when there is none.
 */
export function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf(".");
  return dot === -1 ? "" : filename.slice(dot + 1).replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The name before its last dot (the whole name when it has none). */
function stemOf(filename: string): string {
  const dot = filename.lastIndexOf(".");
  return dot === -1 ? filename : filename.slice(0, dot);
}

/** The content type a name implies (`14000.JPG` → `image/jpeg`), or undefined. */
export function contentTypeForName(filename: string): string | undefined {
  return IMAGE_EXTENSIONS[extensionOf(filename)];
}

/** How an error message quotes a name: the first 40 characters of an over-long one. */
export function quoteName(filename: string): string {
  return encoder.encode(filename).length > MAX_FILENAME_BYTES
    ? `${[...filename].slice(0, 40).join("")}…`
    : filename;
}

/**
 * The stored form of a valid name: NFC with the extension in lower case (`Café.JPG` →
 * `Café.jpg`), as SQL's `s3_cache_normalize_filename()`; undefined for an invalid name.
 */
export function normalizeFilename(filename: string): string | undefined {
  if (filenameProblem(filename) !== undefined) return undefined;
  const name = filename.normalize("NFC");
  const extension = extensionOf(name);
  return `${name.slice(0, name.length - extension.length)}${extension}`;
}

/**
 * The storage key for `name`: Unicode NFC (a name typed on a Mac and on Windows is one key) and
 * a lower-case extension (`14000.JPG` → `14000.jpg`, since the storefront asks for `.jpg`).
 *
 * @throws AppError 400 `invalid_filename` with the SQL API's reason.
 *
 * @example
 * ```ts
 * imageKey("14000.JPG"); // "14000.jpg"
 * imageKey("../x.jpg"); // throws: Cannot upload "../x.jpg": path segments are not allowed
 * ```
 */
export function imageKey(name: string): string {
  const key = normalizeFilename(name);
  if (key !== undefined) return key;
  const problem = filenameProblem(name);
  throw ERRORS.NameInvalid(
    name === ""
      ? `Cannot upload the file: ${problem}`
      : `Cannot upload "${quoteName(name)}": ${problem}`,
  );
}

/** The key with its extension replaced by `extension` (for "rename it to …" advice). */
export function withExtension(key: string, extension: string): string {
  const dot = key.lastIndexOf(".");
  return `${dot === -1 ? key : key.slice(0, dot)}.${extension}`;
}
