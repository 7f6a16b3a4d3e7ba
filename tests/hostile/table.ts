/**
 * Reads the data tables of `tests/hostile/` (`*.tsv`): `#` comment lines, then a header line of
 * column names, then one row a line with the same number of tab-separated fields. Fields use the
 * filename corpus's escapes (`\t`, `\n`, `\\`, `\uXXXX`), so a table can hold any name printably.
 *
 * @example
 * ```ts
 * const rows = await readTable("roles.tsv");
 * for (const row of rows) console.log(row.method, row.path);
 * ```
 *
 * @module
 */
import { unescapeCorpusField } from "../corpus/filenames.ts";

/** One row: column name → unescaped field, plus its 1-based line for test names. */
export type TableRow = Record<string, string> & { line: string };

/** Parses a table's text; throws, naming the line, when a row has the wrong number of fields. */
export function parseTable(text: string, name = "table"): TableRow[] {
  let header: string[] | undefined;
  const rows: TableRow[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === "" || raw.startsWith("#")) return;
    const fields = raw.split("\t");
    if (!header) {
      header = fields;
      return;
    }
    if (fields.length !== header.length) {
      throw new Error(
        `${name} line ${line}: ${fields.length} fields, the header has ${header.length}`,
      );
    }
    const row = { line: String(line) } as TableRow;
    header.forEach((column, i) => row[column] = unescapeCorpusField(fields[i], line));
    rows.push(row);
  });
  if (!header) throw new Error(`${name}: no header line`);
  return rows;
}

/** Reads and parses `tests/hostile/<name>`. */
export async function readTable(name: string): Promise<TableRow[]> {
  return parseTable(await Deno.readTextFile(new URL(`./${name}`, import.meta.url)), name);
}
