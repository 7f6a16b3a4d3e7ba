/**
 * `npm run sql`: SQL against the running local stack's database for machines without `psql`
 * (the npm Postgres ships no client). Not a psql: no meta-commands, values printed as Postgres
 * sends them as text, one table per statement that returns rows.
 *
 *   npm run sql -- "select add_file_to_s3_cache('14000.jpg')"
 *   npm run sql -- -f some.sql
 *   npm run sql < some.sql           (statements from stdin)
 *
 * The database is `--db-url <url>`, else `DB_URL` from `.local/status.env` (`npm start` writes
 * it). Exits 1 at the first error.
 *
 * @module
 */
import postgres from "postgres"; // npm:postgres via supabase/functions/import_map.json
import { REPO_ROOT } from "./migrations.ts";

/** One statement's answer: column names and rows of text values (`null` for NULL). */
export interface TextResult {
  columns: string[];
  rows: Array<Array<string | null>>;
}

/** Renders results like `psql`'s aligned format: header, rule, rows, `(N rows)`. */
export function formatTable({ columns, rows }: TextResult): string {
  const cells = rows.map((row) => row.map((value) => value ?? ""));
  const widths = columns.map((name, i) =>
    Math.max(name.length, ...cells.map((row) => (row[i] ?? "").length))
  );
  const line = (values: string[]) =>
    values.map((value, i) => ` ${value.padEnd(widths[i])} `).join("|").trimEnd();
  return [
    line(columns.map((name, i) => name.padStart((widths[i] + name.length) >> 1))),
    widths.map((width) => "-".repeat(width + 2)).join("+"),
    ...cells.map(line),
    `(${rows.length} ${rows.length === 1 ? "row" : "rows"})`,
  ].join("\n");
}

/**
 * Splits SQL text into statements at each `;` outside quotes, dollar quotes (`$$`, `$tag$`),
 * quoted identifiers and comments: what `psql -f` would send one by one.
 */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const dollar = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(rest);
    if (rest.startsWith("--")) i = skipTo(text, "\n", i + 2);
    else if (rest.startsWith("/*")) i = skipTo(text, "*/", i + 2);
    else if (text[i] === "'" || text[i] === '"') i = skipTo(text, text[i], i + 1);
    else if (dollar && !/[A-Za-z_0-9]/.test(text[i - 1] ?? "")) {
      i = skipTo(text, dollar[0], i + dollar[0].length);
    } else if (text[i] === ";") {
      statements.push(text.slice(start, i + 1));
      start = ++i;
    } else i++;
  }
  statements.push(text.slice(start));
  return statements.map((statement) => statement.trim()).filter((statement) =>
    statement.replace(/;$/, "").trim() !== ""
  );
}

/** The index just past the next `end` at or after `from` (the text's end when there is none). */
function skipTo(text: string, end: string, from: number): number {
  const at = text.indexOf(end, from);
  return at < 0 ? text.length : at + end.length;
}

async function databaseUrl(args: string[]): Promise<string> {
  const at = args.indexOf("--db-url");
  if (at >= 0 && args[at + 1]) return args[at + 1];
  try {
    const status = await Deno.readTextFile(`${REPO_ROOT}.local/status.env`);
    const dbUrl = /^DB_URL=(.+)$/m.exec(status)?.[1];
    if (dbUrl) return dbUrl;
  } catch { /* not running */ }
  throw new Error("The local stack is not running (start it with `npm start`), or pass --db-url");
}

async function main(args: string[]): Promise<number> {
  const url = await databaseUrl(args);
  const rest = args.filter((_, i) => args[i] !== "--db-url" && args[i - 1] !== "--db-url");
  const file = rest.indexOf("-f");
  const text = file >= 0
    ? await Deno.readTextFile(rest[file + 1])
    : rest.length
    ? rest.join(" ")
    : await new Response(Deno.stdin.readable).text();
  const statements = splitStatements(text);

  const sql = postgres(url, {
    max: 1,
    fetch_types: false,
    onnotice: (notice) => console.error(`${notice.severity}:  ${notice.message}`),
  });
  // Every value as the text Postgres sends, as psql shows it (no JS numbers, dates or JSON).
  const parsers = sql.options.parsers as Record<string, unknown>;
  for (const oid of Object.keys(parsers)) delete parsers[oid];
  try {
    for (const statement of statements) {
      const result = await sql.unsafe(statement);
      const columns = result.columns?.map((column) => column.name) ?? [];
      if (columns.length === 0) {
        console.log([result.command, result.count].filter((part) => part != null).join(" "));
        continue;
      }
      const rows = [...result].map((row) =>
        columns.map((name) => (row[name] as string | null) ?? null)
      );
      console.log(formatTable({ columns, rows }) + "\n");
    }
    return 0;
  } catch (error) {
    const e = error as { severity?: string; message: string; hint?: string };
    console.error(`${e.severity ?? "ERROR"}:  ${e.message}${e.hint ? `\nHINT:  ${e.hint}` : ""}`);
    return 1;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
