/**
 * Writes `supabase/tests/08_filename_corpus.test.sql` from `filenames.tsv`, with the corpus as SQL
 * literals. Generated rather than loaded at test time: `supabase test db` runs pgTAP files in a
 * container that sees only `supabase/tests`, so a file that reads the TSV (psql `\copy`) or a
 * table a script fills first would work under `pg_prove` here and break there. The db test tier
 * fails when the generated file is stale.
 *
 *   deno run -A tests/corpus/filenames_pgtap.ts          # regenerate
 *   deno run -A tests/corpus/filenames_pgtap.ts --check  # exit 1 when stale
 *
 * @module
 */
import { encodeListingPage } from "../../supabase/functions/s3-image-service/jobs/listing_page.ts";
import { type FilenameCorpus, readFilenameCorpus } from "./filenames.ts";

/** The generated pgTAP file. */
export const CORPUS_PGTAP_URL: URL = new URL(
  "../../supabase/tests/08_filename_corpus.test.sql",
  import.meta.url,
);

/** A SQL literal for any string Postgres text can hold: `U&'…'` when it needs escapes. */
export function sqlLiteral(value: string): string {
  let body = "";
  let unicode = false;
  for (const character of value) {
    const codePoint = character.codePointAt(0)!;
    if (character === "'") body += "''";
    else if (character === "\\") {
      body += "\\\\";
      unicode = true;
    } else if (codePoint >= 0x20 && codePoint <= 0x7e) body += character;
    else {
      unicode = true;
      body += codePoint > 0xffff
        ? `\\+${codePoint.toString(16).toUpperCase().padStart(6, "0")}`
        : `\\${codePoint.toString(16).toUpperCase().padStart(4, "0")}`;
    }
  }
  return unicode ? `U&'${body}'` : `'${body}'`;
}

/** A test description: ASCII only (TAP is line-based), and short. */
function describe(rawInput: string): string {
  const ascii = [...rawInput].map((c) => {
    const codePoint = c.codePointAt(0)!;
    return codePoint >= 0x20 && codePoint <= 0x7e ? c : `\\u{${codePoint.toString(16)}}`;
  }).join("");
  return ascii.length > 48 ? `${ascii.slice(0, 48)}…(${ascii.length})` : ascii;
}

/** 2026-01-01T00:00:00Z, the LastModified every corpus key is listed with. */
const LISTED_AT = new Date(Date.UTC(2026, 0, 1));

/** The pgTAP file for `corpus`. */
export function renderCorpusPgTap(corpus: FilenameCorpus): string {
  // Each name's line of a listing page, written by the worker's own encoder: the SQL side reads
  // back exactly what a rebuild would send it.
  // Postgres text cannot hold an unpaired surrogate: those names are judged by TypeScript alone.
  const rows = corpus.cases.filter((c) => c.input.isWellFormed()).map((c) =>
    `  (${c.line}, ${sqlLiteral(c.input)}, '${c.verdict}', ${
      c.normalized === undefined ? "null" : sqlLiteral(c.normalized)
    }, ${sqlLiteral(describe(c.rawInput))}, ${
      sqlLiteral(
        encodeListingPage([{ key: c.input, size: 1, etag: '"e"', lastModified: LISTED_AT }]),
      )
    })`
  );
  const messages = Object.entries(corpus.messages).map(([code, message]) =>
    `  ('${code}', ${sqlLiteral(message)})`
  );
  return `-- GENERATED from tests/corpus/filenames.tsv by tests/corpus/filenames_pgtap.ts: do not edit.
-- Regenerate with \`deno run -A tests/corpus/filenames_pgtap.ts\`; the db test tier fails when stale.
--
-- The filename corpus through the SQL API: for every name, s3_cache_filename_problem gives the
-- corpus's verdict (as its message) and s3_cache_normalize_filename the stored form; the add
-- functions store exactly those forms; a rebuild's listing inserts exactly the names the rules
-- accept. The TypeScript rules run the same corpus (names with an unpaired surrogate, which
-- Postgres text cannot hold, only there).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- listed: the name's line in a listing page, as the worker's encodeListingPage writes it.
create temp table t08_corpus (
  line int, input text, verdict text, normalized text, label text, listed text
) on commit drop;
insert into t08_corpus values
${rows.join(",\n")};
create temp table t08_messages (verdict text primary key, message text) on commit drop;
insert into t08_messages values
${messages.join(",\n")};

select plan((select count(*)::int * 2 from t08_corpus) + 4);

select is_empty(
  $$select c.verdict from t08_corpus as c
    where c.verdict <> 'ok' and not exists (select 1 from t08_messages as m where m.verdict = c.verdict)$$,
  'every reason code of the corpus has its message'
);

select is(s3_cache_filename_problem(c.input), m.message,
  format('line %s: %s is %s', c.line, c.label, c.verdict))
from t08_corpus as c left join t08_messages as m on m.verdict = c.verdict
order by c.line;

select is(s3_cache_normalize_filename(c.input), c.normalized,
  format('line %s: %s is stored as %s', c.line, c.label, coalesce(c.normalized, 'nothing')))
from t08_corpus as c
order by c.line;

-- A rebuild indexes a bucket's keys as they are (it never renames an object): a key is inserted
-- exactly when the rules accept it. Keys reach the listing escaped as COPY writes them (the
-- first field of each listed line), and the page is the worker's encoding of the whole corpus.
update s3_cache_rebuilds set status = 'cancelled', finished_at = now() where status = 'running';
delete from s3_image_cache;
create temp table t08_job on commit drop as
  select (s3_cache_rebuild_start('t08') -> 'job' ->> 'id')::bigint as id;
select s3_cache_rebuild_claim((select id from t08_job), 'w', 60);
select s3_cache_rebuild_stage_page((select id from t08_job), 'w', null, null,
  (select string_agg(listed, '' order by line) from t08_corpus));
select results_eq(
  $$select l.filename, l.action from s3_cache_rebuild_listing as l
    where l.job_id = (select id from t08_job) order by l.filename collate "C", l.action$$,
  $$select split_part(c.listed, E'\\t', 1), case c.verdict when 'ok' then 'insert' else 'skip' end
    from t08_corpus as c order by split_part(c.listed, E'\\t', 1) collate "C", 2$$,
  'a rebuild''s listing inserts exactly the corpus names the rules accept'
);
select s3_cache_rebuild_cancel((select id from t08_job));

select results_eq(
  $$select count(*)::int from t08_corpus as c
    where c.verdict = 'ok' and add_file_to_s3_cache(c.input) = 'SUCCESS'$$,
  $$select count(*)::int from t08_corpus where verdict = 'ok'$$,
  'add_file_to_s3_cache accepts every valid name'
);
select results_eq(
  $$select filename::text from s3_image_cache order by filename collate "C"$$,
  $$select d.normalized from (select distinct normalized from t08_corpus where verdict = 'ok') as d
    order by d.normalized collate "C"$$,
  'the index holds each valid name once, in its stored form'
);

select * from finish();
rollback;
`;
}

if (import.meta.main) {
  const rendered = renderCorpusPgTap(await readFilenameCorpus());
  if (Deno.args.includes("--check")) {
    const current = await Deno.readTextFile(CORPUS_PGTAP_URL).catch(() => "");
    if (current !== rendered) {
      console.error("supabase/tests/08_filename_corpus.test.sql is stale: regenerate it.");
      Deno.exit(1);
    }
  } else {
    await Deno.writeTextFile(CORPUS_PGTAP_URL, rendered);
  }
}
