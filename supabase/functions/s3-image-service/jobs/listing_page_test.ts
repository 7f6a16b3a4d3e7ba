import assert from "node:assert/strict";
import { encodeListingPage } from "./listing_page.ts";

const at = new Date("2026-11-23T14:00:00.000Z");

Deno.test("encodeListingPage() writes key, size, ETag and epoch milliseconds per line, tab-separated", () => {
  assert.equal(
    encodeListingPage([
      { key: "14000.jpg", size: 1234, etag: '"abc"', lastModified: at },
      { key: "a b.png", size: 0, etag: '"d"', lastModified: at },
    ]),
    '14000.jpg\t1234\t"abc"\t1795442400000\n' +
      'a b.png\t0\t"d"\t1795442400000\n',
  );
});

Deno.test("encodeListingPage() of no keys is the empty string", () => {
  assert.equal(encodeListingPage([]), "");
});

Deno.test("encodeListingPage() escapes backslash, tab, newline and CR in keys as COPY does", () => {
  const text = encodeListingPage([
    { key: "a\tb\nc\rd\\e.jpg", size: 1, etag: '"e"', lastModified: at },
  ]);
  assert.equal(text, 'a\\tb\\nc\\rd\\\\e.jpg\t1\t"e"\t1795442400000\n');
  // The framing SQL checks: one newline per line, three tabs per line.
  assert.equal(text.split("\n").length - 1, 1);
  assert.equal(text.split("\t").length - 1, 3);
});

Deno.test("encodeListingPage() keeps the framing when an ETag holds a tab or newline", () => {
  const text = encodeListingPage([{ key: "x.jpg", size: 1, etag: '"a\tb\nc"', lastModified: at }]);
  assert.equal(text, 'x.jpg\t1\t"a b c"\t1795442400000\n');
});

Deno.test("encodeListingPage() leaves the date empty (NULL) for an invalid Date", () => {
  assert.equal(
    encodeListingPage([{ key: "x.jpg", size: 1, etag: '"e"', lastModified: new Date(NaN) }]),
    'x.jpg\t1\t"e"\t\n',
  );
});
