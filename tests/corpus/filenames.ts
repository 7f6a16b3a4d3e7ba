/**
 * The filename corpus, `filenames.tsv`: product image names with the verdict the naming rules
 * give each (`ok` or a reason code) and, when valid, the name as the index stores it. The SQL API
 * (pgTAP, through the generated `supabase/tests/08_filename_corpus.test.sql`) and the TypeScript
 * rules both run it, so the two cannot drift apart.
 *
 * The file's own header comment describes the format; this module reads it.
 *
 * @example
 * ```ts
 * import { readFilenameCorpus } from "./filenames.ts";
 * const { cases, messages } = await readFilenameCorpus();
 * for (const c of cases) console.log(c.input, c.verdict === "ok" ? c.normalized : messages[c.verdict]);
 * ```
 *
 * @module
 */

/** Where the corpus lives. */
export const FILENAME_CORPUS_URL: URL = new URL("./filenames.tsv", import.meta.url);

/** The column header line every corpus file carries after its comments. */
export const CORPUS_COLUMNS = "input\tverdict\tnormalized";

/** One name of the corpus. */
export interface CorpusCase {
  /** 1-based line in the file, for test names. */
  line: number;
  /** The name, unescaped. */
  input: string;
  /** The input field as written in the file (escaped: printable). */
  rawInput: string;
  /** `ok`, or a reason code listed in {@linkcode FilenameCorpus.messages}. */
  verdict: string;
  /** The stored name when `verdict` is `ok`, else undefined. */
  normalized?: string;
}

/** The parsed corpus. */
export interface FilenameCorpus {
  cases: CorpusCase[];
  /** Reason code → the message `s3_cache_filename_problem` returns for it. */
  messages: Record<string, string>;
}

/**
 * Decodes a field's escapes: `\t`, `\n`, `\\` and `\uXXXX` (one BMP code point). Any other
 * backslash sequence is an error, so a typo cannot silently change a test case.
 */
export function unescapeCorpusField(field: string, line = 0): string {
  return field.replace(/\\(u[0-9A-Fa-f]{4}|[tn\\]|.?)/g, (match, code: string) => {
    if (code === "t") return "\t";
    if (code === "n") return "\n";
    if (code === "\\") return "\\";
    if (code.length === 5) return String.fromCharCode(parseInt(code.slice(1), 16));
    throw new Error(`filenames.tsv line ${line}: unknown escape "${match}"`);
  });
}

/** Parses the corpus text; throws, naming the line, on anything malformed. */
export function parseFilenameCorpus(text: string): FilenameCorpus {
  const cases: CorpusCase[] = [];
  const messages: Record<string, string> = {};
  let sawColumns = false;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((content, index) => {
    const line = index + 1;
    if (content.startsWith("#")) {
      const verdict = /^# verdict ([a-z_]+): (.+)$/.exec(content);
      if (verdict) messages[verdict[1]] = verdict[2];
      return;
    }
    if (!sawColumns) {
      if (content !== CORPUS_COLUMNS) {
        throw new Error(`filenames.tsv line ${line}: expected the header "${CORPUS_COLUMNS}"`);
      }
      sawColumns = true;
      return;
    }
    const fields = content.split("\t");
    if (fields.length !== 3) {
      throw new Error(`filenames.tsv line ${line}: expected 3 tab-separated fields`);
    }
    const [rawInput, verdict, rawNormalized] = fields;
    if (verdict === "ok" ? rawNormalized === "" : rawNormalized !== "") {
      throw new Error(`filenames.tsv line ${line}: normalized is given exactly when ok`);
    }
    if (verdict !== "ok" && !(verdict in messages)) {
      throw new Error(`filenames.tsv line ${line}: no "# verdict ${verdict}: …" line`);
    }
    cases.push({
      line,
      input: unescapeCorpusField(rawInput, line),
      rawInput,
      verdict,
      normalized: verdict === "ok" ? unescapeCorpusField(rawNormalized, line) : undefined,
    });
  });
  if (cases.length === 0) throw new Error("filenames.tsv holds no case");
  return { cases, messages };
}

/** Reads and parses `filenames.tsv`. */
export async function readFilenameCorpus(): Promise<FilenameCorpus> {
  return parseFilenameCorpus(await Deno.readTextFile(FILENAME_CORPUS_URL));
}
