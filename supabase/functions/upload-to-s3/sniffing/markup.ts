/**
 * The markup scan: finds web-page or script markup in an image, in Latin-1/UTF-8 and in UTF-16
 * (little- and big-endian). Why: text in an image (comments, Exif, XMP, text chunks) is shown and
 * copied by image tools, CMSs and galleries, sometimes without escaping, so markup stored there is
 * a stored-XSS payload waiting for a careless viewer; and a file that a browser could be made to
 * read as a page must not carry one anywhere (OWASP File Upload Cheat Sheet: validate the content,
 * not the name).
 *
 * How much it looks for depends on where, so that compressed pixels, which are noise and spell
 * anything short by chance, never refuse a real photo (see {@linkcode ScanLevel}).
 *
 * @module
 */

/**
 * What a scan looks for, each level adding to the one before:
 * - `"any"` (every byte of the file, pixels included): an element that runs script, loads
 *   content or restyles the page (`<script`, `<iframe`, `<img`, `<svg`, `<body`, `<style`,
 *   `<link`, `<meta`, `<form`, `<object`, `<embed`, …) as a tag (a name of three letters only when
 *   written out to its `>` in plain text, since three letters occur in noise), `<!doctype`,
 *   `<?php`, `javascript:` and `vbscript:` URLs (with the tabs and line breaks browsers ignore).
 * - `"metadata"` (every part that is not compressed pixels): also event-handler attributes,
 *   `on…=` with at least three letters after `on` (`onload=`, `onerror =`), after a space, `/` or
 *   quote.
 * - `"text"` (comments, text chunks, XMP, after decompression): also any HTML element name as a
 *   tag (`<a `, `<b>`, `<div/`, `<h1>`), case-insensitive. Namespaced XML (`<rdf:li>`,
 *   `<xmp:CreatorTool>`) and escaped text (`&lt;b&gt;`) are not markup.
 */
export type ScanLevel = "any" | "metadata" | "text";

/** Options for {@linkcode findMarkup}. */
export interface FindMarkupOptions {
  /** First byte to scan. Default 0. */
  start?: number;
  /** Byte after the last one to scan. Default: the end of `bytes`. */
  end?: number;
  /** What to look for. Default `"text"`, the most. */
  level?: ScanLevel;
}

/** Elements whose tag alone makes a page run script, load content or change its look. */
const DANGEROUS_ELEMENTS = new Set([
  "animate",
  "applet",
  "audio",
  "base",
  "body",
  "button",
  "details",
  "embed",
  "form",
  "frame",
  "frameset",
  "html",
  "iframe",
  "image",
  "img",
  "input",
  "isindex",
  "link",
  "marquee",
  "math",
  "meta",
  "noscript",
  "object",
  "plaintext",
  "portal",
  "script",
  "source",
  "style",
  "svg",
  "template",
  "textarea",
  "video",
  "xmp",
]);

/** Every HTML element name browsers parse, current and obsolete (WHATWG HTML, §13 and §16). */
const HTML_ELEMENTS = new Set([
  ...DANGEROUS_ELEMENTS,
  ..."a abbr acronym address area article aside b basefont bdi bdo bgsound big blink blockquote br canvas caption center cite code col colgroup data datalist dd del dfn dialog dir div dl dt em fieldset figcaption figure font footer h1 h2 h3 h4 h5 h6 head header hgroup hr i ins kbd keygen label legend li listing main map mark menu menuitem meter multicol nav nextid nobr noembed noframes ol optgroup option output p param picture pre progress q rb rp rt rtc ruby s samp search section select slot small spacer span strike strong sub summary sup table tbody td tfoot th thead time title tr track tt u ul var wbr"
    .split(" "),
]);

/** Longest element name above; a longer run of letters is no element. */
const MAX_NAME = 10;
/** How far a short dangerous tag is followed to its `>`. */
const MAX_TAG = 1024;

const LT = 0x3c;
const COLON = 0x3a;
const EQUALS = 0x3d;

const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
const isLetter = (c: number) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** HTML's whitespace: tab, line feed, form feed, carriage return, space. */
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
/** What ends a tag name: whitespace, `/` or `>`. */
const endsName = (c: number) => isSpace(c) || c === 0x2f || c === 0x3e;
/** Plain text inside a tag: printable ASCII and whitespace. */
const isTagText = (c: number) => (c >= 0x20 && c <= 0x7e) || isSpace(c);

/**
 * One way of reading characters from bytes: Latin-1/UTF-8 (`step` 1), or UTF-16 (`step` 2, each
 * character's other byte, at `pair`, must be zero: +1 little-endian, -1 big-endian). `char(at)`
 * is the character whose low byte is at `at`, or -1 outside `[start, end)` or for a non-ASCII
 * UTF-16 unit.
 */
class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly start: number,
    private readonly end: number,
    readonly step: 1 | 2,
    private readonly pair: -1 | 0 | 1,
  ) {}

  char(at: number): number {
    if (at < this.start || at >= this.end) return -1;
    if (this.pair !== 0) {
      const other = at + this.pair;
      if (other < this.start || other >= this.end || this.bytes[other] !== 0) return -1;
    }
    return this.bytes[at];
  }
}

/**
 * The first markup marker in `bytes[start, end)` at `level`, lower-cased (`"<script"`, `"<img"`,
 * `"onerror="`, `"javascript:"`, `"<!doctype"`, `"<?php"`), or `undefined`.
 *
 * @example
 * ```ts
 * findMarkup(new TextEncoder().encode("a <SCRIPT>")); // "<script"
 * findMarkup(new TextEncoder().encode("<b>bold</b>"), { level: "any" }); // undefined
 * ```
 */
export function findMarkup(bytes: Uint8Array, options: FindMarkupOptions = {}): string | undefined {
  const start = Math.max(0, options.start ?? 0);
  const end = Math.min(bytes.length, options.end ?? bytes.length);
  const level = options.level ?? "text";
  const anchors = level === "any" ? ANCHORS_ANY : ANCHORS;
  for (let at = start; at < end; at++) {
    if (anchors[bytes[at]] === 0) continue;
    const found = markupAt(bytes, at, { start, end, level });
    if (found) return found;
  }
  return undefined;
}

/**
 * The marker whose anchor (`<`, `:` or `=`) is the byte at `at`, if any, reading no byte outside
 * `[start, end)`: the step of {@linkcode findMarkup}, for a caller that walks the bytes itself
 * (one pass for several scans). Each anchor's quick test looks at the one character next to it,
 * in both encodings (UTF-16, either byte order, has a zero between the two), so noise rarely
 * costs more than a lookup.
 */
export function markupAt(
  bytes: Uint8Array,
  at: number,
  range: Required<FindMarkupOptions>,
): string | undefined {
  const anchor = bytes[at];
  if (anchor === LT) {
    return anchored(bytes, at, range, range.level === "text" ? AFTER_LT_TEXT : AFTER_LT, 1);
  }
  if (anchor === COLON) return anchored(bytes, at, range, BEFORE_COLON, -1);
  if (anchor === EQUALS && range.level !== "any") {
    return anchored(bytes, at, range, BEFORE_EQUALS, -1);
  }
  return undefined;
}

/** The quick test on the character beside the anchor, then the match in each encoding. */
function anchored(
  bytes: Uint8Array,
  at: number,
  range: Required<FindMarkupOptions>,
  near: Uint8Array,
  side: 1 | -1,
): string | undefined {
  const { start, end } = range;
  const next = at + side;
  if (next < start || next >= end) return undefined;
  const byteNext = bytes[next];
  if (near[byteNext] === 1) {
    const found = match(new Reader(bytes, start, end, 1, 0), at, range.level);
    if (found) return found;
  }
  if (byteNext === 0 && near[bytes[at + 2 * side]] === 1) {
    return match(new Reader(bytes, start, end, 2, 1), at, range.level) ??
      match(new Reader(bytes, start, end, 2, -1), at, range.level);
  }
  return undefined;
}

/** The marker at the anchor at `at`, as `reader` reads it (nothing if it is no character there). */
function match(reader: Reader, at: number, level: ScanLevel): string | undefined {
  const anchor = reader.char(at);
  if (anchor === LT) return tagAt(reader, at, level);
  if (anchor === COLON) return scriptUrlBefore(reader, at);
  if (anchor === EQUALS) return handlerBefore(reader, at);
  return undefined;
}

/** A 256-entry table, 1 for each byte of `chars` (upper and lower case of letters). */
function byteSet(chars: string): Uint8Array {
  const table = new Uint8Array(256);
  for (const c of chars) {
    table[c.toLowerCase().charCodeAt(0)] = 1;
    table[c.toUpperCase().charCodeAt(0)] = 1;
  }
  return table;
}

const firstLetters = (names: Iterable<string>) => [...names].map((name) => name[0]).join("");
/** What may follow `<` in a marker: a dangerous element's first letter, `!` or `?`. */
const AFTER_LT = byteSet(firstLetters(DANGEROUS_ELEMENTS) + "!?");
/** The same in text, where every element counts. */
const AFTER_LT_TEXT = byteSet(firstLetters(HTML_ELEMENTS) + "!?");
/** What may precede the `:` of a script URL: its last letter, or ignored whitespace. */
const BEFORE_COLON = byteSet("t \t\n\r\f");
/** What may precede the `=` of an attribute: a letter or whitespace. */
const BEFORE_EQUALS = byteSet("abcdefghijklmnopqrstuvwxyz \t\n\r\f");

/** The bytes {@linkcode markupAt} starts from at level `"any"`: `<` and `:`. */
const ANCHORS_ANY = new Uint8Array(256);
ANCHORS_ANY[LT] = ANCHORS_ANY[COLON] = 1;
/** The same at the other levels: also `=`. */
const ANCHORS = ANCHORS_ANY.slice();
ANCHORS[EQUALS] = 1;

/**
 * For a loop that reads every byte once: `MARKUP_PAIRS_ANY[(a << 8) | b]` is 1 when the two bytes
 * `a b` could be where a level-`"any"` marker starts (`<` then a letter it may open with, or a
 * zero for UTF-16) or ends (`t`, whitespace or a zero, then `:`). The anchor is `a` unless `b` is
 * `:`. Noise passes it about once in 2,000 bytes.
 */
export const MARKUP_PAIRS_ANY = new Uint8Array(65_536);
for (let other = 0; other < 256; other++) {
  if (AFTER_LT[other] || other === 0) MARKUP_PAIRS_ANY[(LT << 8) | other] = 1;
  if (BEFORE_COLON[other] || other === 0) MARKUP_PAIRS_ANY[(other << 8) | COLON] = 1;
}

/**
 * The first marker in any of `ranges` (`[start, end)` pairs, in any order, possibly
 * overlapping) at `level`. Overlaps are merged first, so no byte is read twice however the
 * ranges repeat.
 */
export function findMarkupIn(
  bytes: Uint8Array,
  ranges: ReadonlyArray<readonly [number, number]>,
  level: ScanLevel,
): string | undefined {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let from = 0;
  for (const [start, end] of sorted) {
    const begin = Math.max(start, from);
    const stop = Math.min(end, bytes.length);
    if (begin >= stop) continue;
    const found = findMarkup(bytes, { start: begin, end: stop, level });
    if (found) return found;
    from = stop;
  }
  return undefined;
}

/** A tag, `<!doctype` or `<?php` starting at the `<` at `at`. */
function tagAt(reader: Reader, at: number, level: ScanLevel): string | undefined {
  const { step } = reader;
  let p = at + step;
  const first = reader.char(p);
  if (first === 0x21) return spells(reader, p + step, "doctype") ? "<!doctype" : undefined;
  if (first === 0x3f) return spells(reader, p + step, "php") ? "<?php" : undefined;
  if (!isLetter(first)) return undefined;
  let name = "";
  for (let c = first; isLetter(c) || (name.length > 0 && isDigit(c)); c = reader.char(p)) {
    if (name.length === MAX_NAME) return undefined;
    name += String.fromCharCode(lower(c));
    p += step;
  }
  if (!endsName(reader.char(p))) return undefined;
  if (DANGEROUS_ELEMENTS.has(name) && (name.length > 3 || writtenOut(reader, p))) {
    return `<${name}`;
  }
  if (level === "text" && HTML_ELEMENTS.has(name)) return `<${name}`;
  return undefined;
}

/** Whether plain text runs from `at` to a `>` within {@linkcode MAX_TAG} characters. */
function writtenOut(reader: Reader, at: number): boolean {
  for (let i = 0, p = at; i < MAX_TAG; i++, p += reader.step) {
    const c = reader.char(p);
    if (c === 0x3e) return true;
    if (!isTagText(c)) return false;
  }
  return false;
}

/** Whether the characters from `at` spell `word` (lower-case ASCII), in any case. */
function spells(reader: Reader, at: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    if (lower(reader.char(at + i * reader.step)) !== word.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * `javascript:` or `vbscript:` ending at the `:` at `at`. Browsers drop tabs and line breaks
 * anywhere in a URL and spaces before it, so `java\tscript :` counts too.
 */
function scriptUrlBefore(reader: Reader, at: number): string | undefined {
  for (const scheme of ["javascript", "vbscript"]) {
    let p = at - reader.step;
    let i = scheme.length - 1;
    for (let c = reader.char(p); i >= 0 && c !== -1; c = reader.char(p)) {
      if (isSpace(c)) { // skipped
      } else if (lower(c) === scheme.charCodeAt(i)) i--;
      else break;
      p -= reader.step;
    }
    if (i < 0) return `${scheme}:`;
  }
  return undefined;
}

/**
 * An event-handler attribute ending at the `=` at `at`: `on` and three or more letters, after a
 * space, `/` or quote (where an attribute can start), spaces allowed before the `=`.
 */
function handlerBefore(reader: Reader, at: number): string | undefined {
  const { step } = reader;
  let p = at - step;
  while (isSpace(reader.char(p))) p -= step;
  const last = p;
  let letters = 0;
  while (isLetter(reader.char(p)) && letters <= 40) {
    letters++;
    p -= step;
  }
  const before = reader.char(p);
  if (letters < 5 || !(isSpace(before) || before === 0x2f || before === 0x22 || before === 0x27)) {
    return undefined;
  }
  const first = p + step;
  if (lower(reader.char(first)) !== 0x6f || lower(reader.char(first + step)) !== 0x6e) {
    return undefined;
  }
  let name = "";
  for (let q = first; q <= last; q += step) name += String.fromCharCode(lower(reader.char(q)));
  return `${name}=`;
}
