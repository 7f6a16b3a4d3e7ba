-- GENERATED from tests/corpus/filenames.tsv by tests/corpus/filenames_pgtap.ts: do not edit.
-- Regenerate with `deno run -A tests/corpus/filenames_pgtap.ts`; the db test tier fails when stale.
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
  (21, '14000.jpg', 'ok', '14000.jpg', '14000.jpg', U&'14000.jpg\00091\0009"e"\00091767225600000\000A'),
  (22, '14000.JPG', 'ok', '14000.jpg', '14000.JPG', U&'14000.JPG\00091\0009"e"\00091767225600000\000A'),
  (23, 'A.JPEG', 'ok', 'A.jpeg', 'A.JPEG', U&'A.JPEG\00091\0009"e"\00091767225600000\000A'),
  (24, 'b.png', 'ok', 'b.png', 'b.png', U&'b.png\00091\0009"e"\00091767225600000\000A'),
  (25, 'c.WebP', 'ok', 'c.webp', 'c.WebP', U&'c.WebP\00091\0009"e"\00091767225600000\000A'),
  (26, 'd.gif', 'ok', 'd.gif', 'd.gif', U&'d.gif\00091\0009"e"\00091767225600000\000A'),
  (27, 'e.avif', 'ok', 'e.avif', 'e.avif', U&'e.avif\00091\0009"e"\00091767225600000\000A'),
  (28, 'E.AVIF', 'ok', 'E.avif', 'E.AVIF', U&'E.AVIF\00091\0009"e"\00091767225600000\000A'),
  (29, 'x.JpEg', 'ok', 'x.jpeg', 'x.JpEg', U&'x.JpEg\00091\0009"e"\00091767225600000\000A'),
  (30, 'a.b.gif', 'ok', 'a.b.gif', 'a.b.gif', U&'a.b.gif\00091\0009"e"\00091767225600000\000A'),
  (31, 'a b.png', 'ok', 'a b.png', 'a b.png', U&'a b.png\00091\0009"e"\00091767225600000\000A'),
  (32, '_x-y.webp', 'ok', '_x-y.webp', '_x-y.webp', U&'_x-y.webp\00091\0009"e"\00091767225600000\000A'),
  (33, '-x.jpg', 'ok', '-x.jpg', '-x.jpg', U&'-x.jpg\00091\0009"e"\00091767225600000\000A'),
  (34, 'x .jpg', 'ok', 'x .jpg', 'x .jpg', U&'x .jpg\00091\0009"e"\00091767225600000\000A'),
  (35, '1.webp.jpg', 'ok', '1.webp.jpg', '1.webp.jpg', U&'1.webp.jpg\00091\0009"e"\00091767225600000\000A'),
  (36, 'x%20y#z?.jpg', 'ok', 'x%20y#z?.jpg', 'x%20y#z?.jpg', U&'x%20y#z?.jpg\00091\0009"e"\00091767225600000\000A'),
  (37, '<b onclick="x">&''.png', 'ok', '<b onclick="x">&''.png', '<b onclick="x">&''.png', U&'<b onclick="x">&''.png\00091\0009"e"\00091767225600000\000A'),
  (38, U&'produkt \00E4.jpg', 'ok', U&'produkt \00E4.jpg', U&'produkt \\u00E4.jpg', U&'produkt \00E4.jpg\00091\0009"e"\00091767225600000\000A'),
  (39, U&'produkt a\0308.jpg', 'ok', U&'produkt \00E4.jpg', U&'produkt a\\u0308.jpg', U&'produkt a\0308.jpg\00091\0009"e"\00091767225600000\000A'),
  (40, U&'Cafe\0301.JPG', 'ok', U&'Caf\00E9.jpg', U&'Cafe\\u0301.JPG', U&'Cafe\0301.JPG\00091\0009"e"\00091767225600000\000A'),
  (41, U&'\0130stanbul.png', 'ok', U&'\0130stanbul.png', U&'\\u0130stanbul.png', U&'\0130stanbul.png\00091\0009"e"\00091767225600000\000A'),
  (42, U&'\65E5\672C\8A9E.png', 'ok', U&'\65E5\672C\8A9E.png', U&'\\u65E5\\u672C\\u8A9E.png', U&'\65E5\672C\8A9E.png\00091\0009"e"\00091767225600000\000A'),
  (43, U&'x\212A.jpg', 'ok', 'xK.jpg', U&'x\\u212A.jpg', U&'x\212A.jpg\00091\0009"e"\00091767225600000\000A'),
  (44, U&'a\00A0b.jpg', 'ok', U&'a\00A0b.jpg', U&'a\\u00A0b.jpg', U&'a\00A0b.jpg\00091\0009"e"\00091767225600000\000A'),
  (45, U&'smile \+01F600.jpg', 'ok', U&'smile \+01F600.jpg', U&'smile \\u{1f600}.jpg', U&'smile \+01F600.jpg\00091\0009"e"\00091767225600000\000A'),
  (46, U&'\03C0\03C1\03BF\03CA\03CC\03BD.jpg', 'ok', U&'\03C0\03C1\03BF\03CA\03CC\03BD.jpg', U&'\\u03C0\\u03C1\\u03BF\\u03CA\\u03CC\\u03BD.jpg', U&'\03C0\03C1\03BF\03CA\03CC\03BD.jpg\00091\0009"e"\00091767225600000\000A'),
  (47, U&'\0442\043E\0432\0430\0440-1.JPG', 'ok', U&'\0442\043E\0432\0430\0440-1.jpg', U&'\\u0442\\u043E\\u0432\\u0430\\u0440-1.JPG', U&'\0442\043E\0432\0430\0440-1.JPG\00091\0009"e"\00091767225600000\000A'),
  (48, U&'\0645\0646\062A\062C 7.png', 'ok', U&'\0645\0646\062A\062C 7.png', U&'\\u0645\\u0646\\u062A\\u062C 7.png', U&'\0645\0646\062A\062C 7.png\00091\0009"e"\00091767225600000\000A'),
  (49, U&'\65E5\672C\306E\30AB\30E1\30E9\30FC.jpg', 'ok', U&'\65E5\672C\306E\30AB\30E1\30E9\30FC.jpg', U&'\\u65E5\\u672C\\u306E\\u30AB\\u30E1\\u30E9\\u30FC.jpg', U&'\65E5\672C\306E\30AB\30E1\30E9\30FC.jpg\00091\0009"e"\00091767225600000\000A'),
  (50, U&'iPhone \4FDD\62A4\58F3.jpg', 'ok', U&'iPhone \4FDD\62A4\58F3.jpg', U&'iPhone \\u4FDD\\u62A4\\u58F3.jpg', U&'iPhone \4FDD\62A4\58F3.jpg\00091\0009"e"\00091767225600000\000A'),
  (51, U&'Galaxy \D55C\AD6D.webp', 'ok', U&'Galaxy \D55C\AD6D.webp', U&'Galaxy \\uD55C\\uAD6D.webp', U&'Galaxy \D55C\AD6D.webp\00091\0009"e"\00091767225600000\000A'),
  (52, U&'\6CE8\97F3\3105\3106.gif', 'ok', U&'\6CE8\97F3\3105\3106.gif', U&'\\u6CE8\\u97F3\\u3105\\u3106.gif', U&'\6CE8\97F3\3105\3106.gif\00091\0009"e"\00091767225600000\000A'),
  (53, U&'Cr\00E8me br\00FBl\00E9e \00BD.jpg', 'ok', U&'Cr\00E8me br\00FBl\00E9e \00BD.jpg', U&'Cr\\u00E8me br\\u00FBl\\u00E9e \\u00BD.jpg', U&'Cr\00E8me br\00FBl\00E9e \00BD.jpg\00091\0009"e"\00091767225600000\000A'),
  (54, U&'emoji \+01F600.png', 'ok', U&'emoji \+01F600.png', U&'emoji \\uD83D\\uDE00.png', U&'emoji \+01F600.png\00091\0009"e"\00091767225600000\000A'),
  (55, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jpg', 'ok', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jpg', U&'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\2026(255)', U&'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jpg\00091\0009"e"\00091767225600000\000A'),
  (56, U&'\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9x.jpg', 'ok', U&'\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9x.jpg', U&'\\u00E9\\u00E9\\u00E9\\u00E9\\u00E9\\u00E9\\u00E9\\u00E9\2026(755)', U&'\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9x.jpg\00091\0009"e"\00091767225600000\000A'),
  (57, U&'e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301.jpg', 'ok', U&'\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9.jpg', U&'e\\u0301e\\u0301e\\u0301e\\u0301e\\u0301e\\u0301e\\u030\2026(704)', U&'e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301e\0301.jpg\00091\0009"e"\00091767225600000\000A'),
  (58, '', 'empty', null, '', U&'\00091\0009"e"\00091767225600000\000A'),
  (62, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jpg', 'too_long', null, U&'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\2026(256)', U&'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jpg\00091\0009"e"\00091767225600000\000A'),
  (63, U&'\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9.jpg', 'too_long', null, U&'\\u00E9\\u00E9\\u00E9\\u00E9\\u00E9\\u00E9\\u00E9\\u00E9\2026(760)', U&'\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9\00E9.jpg\00091\0009"e"\00091767225600000\000A'),
  (64, '/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'too_long', null, U&'/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\2026(301)', U&'/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\00091\0009"e"\00091767225600000\000A'),
  (65, 'a/b.jpg', 'path', null, 'a/b.jpg', U&'a/b.jpg\00091\0009"e"\00091767225600000\000A'),
  (66, U&'a\\b.jpg', 'path', null, U&'a\\\\b.jpg', U&'a\\\\b.jpg\00091\0009"e"\00091767225600000\000A'),
  (67, '..jpg', 'path', null, '..jpg', U&'..jpg\00091\0009"e"\00091767225600000\000A'),
  (68, 'a..b.jpg', 'path', null, 'a..b.jpg', U&'a..b.jpg\00091\0009"e"\00091767225600000\000A'),
  (69, '../etc.jpg', 'path', null, '../etc.jpg', U&'../etc.jpg\00091\0009"e"\00091767225600000\000A'),
  (70, ' a/b.svg', 'path', null, ' a/b.svg', U&' a/b.svg\00091\0009"e"\00091767225600000\000A'),
  (71, '.a/b.svg', 'path', null, '.a/b.svg', U&'.a/b.svg\00091\0009"e"\00091767225600000\000A'),
  (72, '.jpg', 'leading_dot', null, '.jpg', U&'.jpg\00091\0009"e"\00091767225600000\000A'),
  (73, '.hidden.png', 'leading_dot', null, '.hidden.png', U&'.hidden.png\00091\0009"e"\00091767225600000\000A'),
  (74, U&'.\202Ea.jpg', 'leading_dot', null, U&'.\\u202Ea.jpg', U&'.\202Ea.jpg\00091\0009"e"\00091767225600000\000A'),
  (75, U&'a\0009b.jpg', 'control', null, U&'a\\tb.jpg', U&'a\\tb.jpg\00091\0009"e"\00091767225600000\000A'),
  (76, U&'a\000Ab.jpg', 'control', null, U&'a\\nb.jpg', U&'a\\nb.jpg\00091\0009"e"\00091767225600000\000A'),
  (77, U&'a\000Db.jpg', 'control', null, U&'a\\u000Db.jpg', U&'a\\rb.jpg\00091\0009"e"\00091767225600000\000A'),
  (78, U&'a\0001.jpg', 'control', null, U&'a\\u0001.jpg', U&'a\0001.jpg\00091\0009"e"\00091767225600000\000A'),
  (79, U&'a\001F.jpg', 'control', null, U&'a\\u001F.jpg', U&'a\001F.jpg\00091\0009"e"\00091767225600000\000A'),
  (80, U&'a\007F.jpg', 'control', null, U&'a\\u007F.jpg', U&'a\007F.jpg\00091\0009"e"\00091767225600000\000A'),
  (81, U&'a\0080.jpg', 'control', null, U&'a\\u0080.jpg', U&'a\0080.jpg\00091\0009"e"\00091767225600000\000A'),
  (82, U&'a\0085.jpg', 'control', null, U&'a\\u0085.jpg', U&'a\0085.jpg\00091\0009"e"\00091767225600000\000A'),
  (83, U&'a\009F.jpg', 'control', null, U&'a\\u009F.jpg', U&'a\009F.jpg\00091\0009"e"\00091767225600000\000A'),
  (84, U&'\0009lead.jpg', 'control', null, U&'\\tlead.jpg', U&'\\tlead.jpg\00091\0009"e"\00091767225600000\000A'),
  (85, U&'a\0001\202E.jpg', 'control', null, U&'a\\u0001\\u202E.jpg', U&'a\0001\202E.jpg\00091\0009"e"\00091767225600000\000A'),
  (86, U&'a\202Ab.jpg', 'bidi', null, U&'a\\u202Ab.jpg', U&'a\202Ab.jpg\00091\0009"e"\00091767225600000\000A'),
  (87, U&'a\202Bb.jpg', 'bidi', null, U&'a\\u202Bb.jpg', U&'a\202Bb.jpg\00091\0009"e"\00091767225600000\000A'),
  (88, U&'a\202Cb.jpg', 'bidi', null, U&'a\\u202Cb.jpg', U&'a\202Cb.jpg\00091\0009"e"\00091767225600000\000A'),
  (89, U&'a\202Db.jpg', 'bidi', null, U&'a\\u202Db.jpg', U&'a\202Db.jpg\00091\0009"e"\00091767225600000\000A'),
  (90, U&'a\202Eb.jpg', 'bidi', null, U&'a\\u202Eb.jpg', U&'a\202Eb.jpg\00091\0009"e"\00091767225600000\000A'),
  (91, U&'a\2066b.jpg', 'bidi', null, U&'a\\u2066b.jpg', U&'a\2066b.jpg\00091\0009"e"\00091767225600000\000A'),
  (92, U&'a\2067b.jpg', 'bidi', null, U&'a\\u2067b.jpg', U&'a\2067b.jpg\00091\0009"e"\00091767225600000\000A'),
  (93, U&'a\2068b.jpg', 'bidi', null, U&'a\\u2068b.jpg', U&'a\2068b.jpg\00091\0009"e"\00091767225600000\000A'),
  (94, U&'a\2069b.jpg', 'bidi', null, U&'a\\u2069b.jpg', U&'a\2069b.jpg\00091\0009"e"\00091767225600000\000A'),
  (95, U&'a\200Eb.jpg', 'bidi', null, U&'a\\u200Eb.jpg', U&'a\200Eb.jpg\00091\0009"e"\00091767225600000\000A'),
  (96, U&'a\200Fb.jpg', 'bidi', null, U&'a\\u200Fb.jpg', U&'a\200Fb.jpg\00091\0009"e"\00091767225600000\000A'),
  (97, U&'a\061Cb.jpg', 'bidi', null, U&'a\\u061Cb.jpg', U&'a\061Cb.jpg\00091\0009"e"\00091767225600000\000A'),
  (98, U&'invoice\202Egpj.exe', 'bidi', null, U&'invoice\\u202Egpj.exe', U&'invoice\202Egpj.exe\00091\0009"e"\00091767225600000\000A'),
  (99, U&'a\200Bb.jpg', 'zero_width', null, U&'a\\u200Bb.jpg', U&'a\200Bb.jpg\00091\0009"e"\00091767225600000\000A'),
  (100, U&'a\200Cb.jpg', 'zero_width', null, U&'a\\u200Cb.jpg', U&'a\200Cb.jpg\00091\0009"e"\00091767225600000\000A'),
  (101, U&'a\200Db.jpg', 'zero_width', null, U&'a\\u200Db.jpg', U&'a\200Db.jpg\00091\0009"e"\00091767225600000\000A'),
  (102, U&'a\2060b.jpg', 'zero_width', null, U&'a\\u2060b.jpg', U&'a\2060b.jpg\00091\0009"e"\00091767225600000\000A'),
  (103, U&'\FEFFa.jpg', 'zero_width', null, U&'\\uFEFFa.jpg', U&'\FEFFa.jpg\00091\0009"e"\00091767225600000\000A'),
  (104, U&'a.jpg\FEFF', 'zero_width', null, U&'a.jpg\\uFEFF', U&'a.jpg\FEFF\00091\0009"e"\00091767225600000\000A'),
  (105, U&' a\200B.jpg', 'zero_width', null, U&' a\\u200B.jpg', U&' a\200B.jpg\00091\0009"e"\00091767225600000\000A'),
  (106, U&'x\200B.svg', 'zero_width', null, U&'x\\u200B.svg', U&'x\200B.svg\00091\0009"e"\00091767225600000\000A'),
  (107, U&'a\00ADb.jpg', 'invisible', null, U&'a\\u00ADb.jpg', U&'a\00ADb.jpg\00091\0009"e"\00091767225600000\000A'),
  (108, U&'14000\00AD.png', 'invisible', null, U&'14000\\u00AD.png', U&'14000\00AD.png\00091\0009"e"\00091767225600000\000A'),
  (109, U&'a\034Fb.jpg', 'invisible', null, U&'a\\u034Fb.jpg', U&'a\034Fb.jpg\00091\0009"e"\00091767225600000\000A'),
  (110, U&'\115Fa.jpg', 'invisible', null, U&'\\u115Fa.jpg', U&'\115Fa.jpg\00091\0009"e"\00091767225600000\000A'),
  (111, U&'a\1160.jpg', 'invisible', null, U&'a\\u1160.jpg', U&'a\1160.jpg\00091\0009"e"\00091767225600000\000A'),
  (112, U&'a\3164b.jpg', 'invisible', null, U&'a\\u3164b.jpg', U&'a\3164b.jpg\00091\0009"e"\00091767225600000\000A'),
  (113, U&'\FFA0.jpg', 'invisible', null, U&'\\uFFA0.jpg', U&'\FFA0.jpg\00091\0009"e"\00091767225600000\000A'),
  (114, U&'a\FE0Fb.jpg', 'invisible', null, U&'a\\uFE0Fb.jpg', U&'a\FE0Fb.jpg\00091\0009"e"\00091767225600000\000A'),
  (115, U&'a\FE00.jpg', 'invisible', null, U&'a\\uFE00.jpg', U&'a\FE00.jpg\00091\0009"e"\00091767225600000\000A'),
  (116, U&'a\+0E0041b.jpg', 'invisible', null, U&'a\\uDB40\\uDC41b.jpg', U&'a\+0E0041b.jpg\00091\0009"e"\00091767225600000\000A'),
  (117, U&'a\+0E0001.jpg', 'invisible', null, U&'a\\uDB40\\uDC01.jpg', U&'a\+0E0001.jpg\00091\0009"e"\00091767225600000\000A'),
  (118, U&'a\+0E01EF.jpg', 'invisible', null, U&'a\\uDB40\\uDDEF.jpg', U&'a\+0E01EF.jpg\00091\0009"e"\00091767225600000\000A'),
  (119, U&'a\180Eb.jpg', 'invisible', null, U&'a\\u180Eb.jpg', U&'a\180Eb.jpg\00091\0009"e"\00091767225600000\000A'),
  (120, U&'a\2064b.jpg', 'invisible', null, U&'a\\u2064b.jpg', U&'a\2064b.jpg\00091\0009"e"\00091767225600000\000A'),
  (121, U&'a\17B4.jpg', 'invisible', null, U&'a\\u17B4.jpg', U&'a\17B4.jpg\00091\0009"e"\00091767225600000\000A'),
  (122, U&'a\2028b.jpg', 'invisible', null, U&'a\\u2028b.jpg', U&'a\2028b.jpg\00091\0009"e"\00091767225600000\000A'),
  (123, U&'a\2029b.jpg', 'invisible', null, U&'a\\u2029b.jpg', U&'a\2029b.jpg\00091\0009"e"\00091767225600000\000A'),
  (124, ' a.jpg', 'spaces', null, ' a.jpg', U&' a.jpg\00091\0009"e"\00091767225600000\000A'),
  (125, 'a.jpg ', 'spaces', null, 'a.jpg ', U&'a.jpg \00091\0009"e"\00091767225600000\000A'),
  (126, U&'\00A0a.jpg', 'spaces', null, U&'\\u00A0a.jpg', U&'\00A0a.jpg\00091\0009"e"\00091767225600000\000A'),
  (127, U&'a.jpg\3000', 'spaces', null, U&'a.jpg\\u3000', U&'a.jpg\3000\00091\0009"e"\00091767225600000\000A'),
  (128, U&'\2028a.jpg', 'invisible', null, U&'\\u2028a.jpg', U&'\2028a.jpg\00091\0009"e"\00091767225600000\000A'),
  (129, U&'a.jpg\2029', 'invisible', null, U&'a.jpg\\u2029', U&'a.jpg\2029\00091\0009"e"\00091767225600000\000A'),
  (130, U&'\1680a.jpg', 'spaces', null, U&'\\u1680a.jpg', U&'\1680a.jpg\00091\0009"e"\00091767225600000\000A'),
  (131, U&'a.jpg\202F', 'spaces', null, U&'a.jpg\\u202F', U&'a.jpg\202F\00091\0009"e"\00091767225600000\000A'),
  (132, U&'p\0430ck.png', 'mixed', null, U&'p\\u0430ck.png', U&'p\0430ck.png\00091\0009"e"\00091767225600000\000A'),
  (133, U&'\0440ay\0440al.jpg', 'mixed', null, U&'\\u0440ay\\u0440al.jpg', U&'\0440ay\0440al.jpg\00091\0009"e"\00091767225600000\000A'),
  (134, U&'alpha\03B1.jpg', 'mixed', null, U&'alpha\\u03B1.jpg', U&'alpha\03B1.jpg\00091\0009"e"\00091767225600000\000A'),
  (135, U&'\0430\03B1.jpg', 'mixed', null, U&'\\u0430\\u03B1.jpg', U&'\0430\03B1.jpg\00091\0009"e"\00091767225600000\000A'),
  (136, U&'\D55C\306E.jpg', 'mixed', null, U&'\\uD55C\\u306E.jpg', U&'\D55C\306E.jpg\00091\0009"e"\00091767225600000\000A'),
  (137, U&'\05D0bc.jpg', 'mixed', null, U&'\\u05D0bc.jpg', U&'\05D0bc.jpg\00091\0009"e"\00091767225600000\000A'),
  (138, U&'\0442\043E\0432\0430\0440 item.jpg', 'mixed', null, U&'\\u0442\\u043E\\u0432\\u0430\\u0440 item.jpg', U&'\0442\043E\0432\0430\0440 item.jpg\00091\0009"e"\00091767225600000\000A'),
  (139, U&'\3105\30AB.png', 'mixed', null, U&'\\u3105\\u30AB.png', U&'\3105\30AB.png\00091\0009"e"\00091767225600000\000A'),
  (140, 'a.svg', 'extension', null, 'a.svg', U&'a.svg\00091\0009"e"\00091767225600000\000A'),
  (141, 'a.jpg.exe', 'extension', null, 'a.jpg.exe', U&'a.jpg.exe\00091\0009"e"\00091767225600000\000A'),
  (142, 'jpg', 'extension', null, 'jpg', U&'jpg\00091\0009"e"\00091767225600000\000A'),
  (143, 'noext', 'extension', null, 'noext', U&'noext\00091\0009"e"\00091767225600000\000A'),
  (144, 'x.', 'extension', null, 'x.', U&'x.\00091\0009"e"\00091767225600000\000A'),
  (145, 'x.jpg.', 'extension', null, 'x.jpg.', U&'x.jpg.\00091\0009"e"\00091767225600000\000A'),
  (146, 'x.pngx', 'extension', null, 'x.pngx', U&'x.pngx\00091\0009"e"\00091767225600000\000A'),
  (147, 'x.jp g', 'extension', null, 'x.jp g', U&'x.jp g\00091\0009"e"\00091767225600000\000A'),
  (148, 'x.txt', 'extension', null, 'x.txt', U&'x.txt\00091\0009"e"\00091767225600000\000A'),
  (149, U&'x.g\0130f', 'extension', null, U&'x.g\\u0130f', U&'x.g\0130f\00091\0009"e"\00091767225600000\000A'),
  (150, U&'x.\FF4A\FF50\FF47', 'extension', null, U&'x.\\uFF4A\\uFF50\\uFF47', U&'x.\FF4A\FF50\FF47\00091\0009"e"\00091767225600000\000A'),
  (151, U&'x.jpe\0301g', 'extension', null, U&'x.jpe\\u0301g', U&'x.jpe\0301g\00091\0009"e"\00091767225600000\000A'),
  (152, 'x.heic', 'extension', null, 'x.heic', U&'x.heic\00091\0009"e"\00091767225600000\000A'),
  (153, 'x.svgz', 'extension', null, 'x.svgz', U&'x.svgz\00091\0009"e"\00091767225600000\000A');
create temp table t08_messages (verdict text primary key, message text) on commit drop;
insert into t08_messages values
  ('empty', 'the name is empty'),
  ('surrogate', 'the name is not valid Unicode (an unpaired surrogate)'),
  ('too_long', 'the name is longer than 255 bytes'),
  ('path', 'path segments are not allowed'),
  ('leading_dot', 'the name must not start with a dot'),
  ('control', 'control characters are not allowed'),
  ('bidi', 'bidirectional control characters are not allowed'),
  ('zero_width', 'zero-width characters are not allowed'),
  ('invisible', 'invisible characters are not allowed'),
  ('spaces', 'leading or trailing spaces are not allowed'),
  ('mixed', 'letters from different scripts must not be mixed'),
  ('extension', 'only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed');

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
  $$select split_part(c.listed, E'\t', 1), case c.verdict when 'ok' then 'insert' else 'skip' end
    from t08_corpus as c order by split_part(c.listed, E'\t', 1) collate "C", 2$$,
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
