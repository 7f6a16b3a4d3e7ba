import assert from "node:assert/strict";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import {
  decodePieces,
  headToken,
  parseListObjectsV2,
  PIECE_BYTES,
  withFastListing,
} from "./listing_xml.ts";
import { clientAnswering, storageAnswering } from "./testdata/answering_s3.ts";

/** What the SDK alone makes of `xml`, in the fields a rebuild reads. */
async function sdkReading(xml: string) {
  const output = await clientAnswering(xml).send(new ListObjectsV2Command({ Bucket: "images" }));
  return {
    Contents: (output.Contents ?? []).map((o) => ({
      Key: o.Key,
      Size: o.Size,
      ETag: o.ETag,
      LastModified: o.LastModified?.toISOString(),
    })),
    IsTruncated: output.IsTruncated,
    NextContinuationToken: output.NextContinuationToken,
  };
}

function fastReading(xml: string) {
  const page = parseListObjectsV2(xml);
  assert.ok(page, "the fast reader refused a page it should read");
  return {
    Contents: page.Contents.map((o) => ({
      Key: o.Key,
      Size: o.Size,
      ETag: o.ETag,
      LastModified: o.LastModified?.toISOString(),
    })),
    IsTruncated: page.IsTruncated,
    NextContinuationToken: page.NextContinuationToken,
  };
}

const contents = (key: string, size = 3, etag = "&quot;9b2cf535f27731c974343645a3985328&quot;") =>
  `<Contents><Key>${key}</Key><LastModified>2026-03-16T13:55:51.000Z</LastModified>` +
  `<ETag>${etag}</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;

const page = (body: string, head = "<IsTruncated>false</IsTruncated>") =>
  `<?xml version="1.0" encoding="UTF-8"?>\n` +
  `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>images</Name>` +
  `<Prefix></Prefix>${head}${body}</ListBucketResult>`;

Deno.test("the fast reader reads what the SDK reads: entities, Unicode, spaces, tokens", async () => {
  const pages = [
    page(
      contents("14000.jpg") + contents("14000-2.webp", 0) + contents("a &amp; b.png", 12) +
        contents("caf&#233; &#xE9;.jpg") + contents("&lt;x&gt; &apos;q&apos; &quot;.gif") +
        contents("  leading and trailing  .jpg") + contents("Ü/ü/ß.webp", 9007199254740991) +
        contents("weak.jpg", 1, 'W/"abc"'),
      "<KeyCount>8</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>" +
        "<NextContinuationToken>1a+/b&amp;c==</NextContinuationToken>",
    ),
    page(""),
    page("", "<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"),
    // The page's own fields after its keys (a store that writes them there).
    page(contents("1.jpg"), "").replace(
      "</ListBucketResult>",
      "<IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>" +
        "</ListBucketResult>",
    ),
    // Pretty-printed, as some stores answer.
    page(
      `\n  <Contents>\n    <Key>1.jpg</Key>\n    <Size>3</Size>\n  </Contents>\n`,
      "\n  <IsTruncated>false</IsTruncated>",
    ),
  ];
  for (const xml of pages) {
    assert.deepEqual(fastReading(xml), await sdkReading(xml), xml);
  }
});

Deno.test("the fast reader leaves to the SDK every page it does not fully recognise", () => {
  const refused = {
    "an error document": `<?xml version="1.0"?><Error><Code>SlowDown</Code></Error>`,
    "a CDATA key": page(contents("<![CDATA[a&b.jpg]]>")),
    "an entity XML does not define": page(contents("a&nbsp;b.jpg")),
    "a bare ampersand": page(contents("a&b.jpg")),
    "a character reference to nothing": page(contents("a&#0;.jpg")),
    "folders (CommonPrefixes)": page(
      contents("1.jpg") + "<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>",
    ),
    "URL-encoded keys": page(
      contents("a%20b.jpg"),
      "<EncodingType>url</EncodingType>" +
        "<IsTruncated>false</IsTruncated>",
    ),
    "a key count that disagrees": page(
      contents("1.jpg"),
      "<KeyCount>2</KeyCount><IsTruncated>false</IsTruncated>",
    ),
    "a Contents element with attributes": page(
      contents("1.jpg") + `<Contents a="1"><Key>2.jpg</Key><Size>1</Size></Contents>`,
    ),
    "a date that does not parse": page(contents("1.jpg").replace("2026-03-16", "yesterday")),
    "a negative size": page(contents("1.jpg", -1)),
    "a Contents without a key": page("<Contents><Size>1</Size></Contents>"),
    "no IsTruncated": page(contents("1.jpg"), ""),
    "another root element": "<ListAllMyBucketsResult></ListAllMyBucketsResult>",
    "a document cut short": page(contents("1.jpg")).slice(0, -30),
  };
  for (const [what, xml] of Object.entries(refused)) {
    assert.equal(parseListObjectsV2(xml), null, what);
  }
});

Deno.test("listPage() reads a page the fast reader refuses through the SDK, as before", async () => {
  // CDATA is valid XML the fast reader does not read; the SDK does.
  const xml = page(contents("<![CDATA[a&b.jpg]]>"));
  assert.equal(parseListObjectsV2(xml), null);
  const listed = await storageAnswering(xml).listPage();
  assert.deepEqual(listed.objects.map((o) => o.key), ["a&b.jpg"]);
});

Deno.test("withFastListing() reads a successful answer itself and leaves errors to the SDK", async () => {
  const xml = page(contents("1.jpg"));
  const command = new ListObjectsV2Command({ Bucket: "images" });
  const read = withFastListing(command);
  const output = await clientAnswering(xml).send(command);
  assert.deepEqual(read()?.Contents.map((o) => o.Key), ["1.jpg"]);
  assert.equal(output.Contents, undefined, "the SDK parsed the page a second time");

  const failing = new ListObjectsV2Command({ Bucket: "images" });
  const readFailing = withFastListing(failing);
  const error =
    `<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>`;
  await assert.rejects(
    clientAnswering(error, 403).send(failing),
    (e: Error) => e.name === "AccessDenied",
  );
  assert.equal(readFailing(), undefined);
});

Deno.test("headToken() reads the next token only where it comes before the page's keys", () => {
  const head =
    "<IsTruncated>true</IsTruncated><NextContinuationToken>a&amp;b</NextContinuationToken>";
  assert.equal(headToken(page(contents("1.jpg"), head)), "a&b");
  assert.equal(headToken(page(contents("1.jpg") + head, "")), undefined, "after the keys");
  assert.equal(headToken(page("", "<IsTruncated>false</IsTruncated>")), undefined);
  assert.equal(headToken(`<?xml version="1.0"?><Error><Code>SlowDown</Code></Error>`), undefined);
});

Deno.test("withFastListing() tells onNextToken the token as soon as the answer is in", async () => {
  const head = "<IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken>";
  const command = new ListObjectsV2Command({ Bucket: "images" });
  const told: string[] = [];
  const read = withFastListing(command, (token) => told.push(token));
  await clientAnswering(page(contents("1.jpg"), head)).send(command);
  assert.deepEqual(told, ["t2"]);
  assert.equal(read()?.NextContinuationToken, "t2");
});

/** A 1,000-key page of varied keys: plain, entities, two-byte, three-byte and astral characters. */
function thousandKeys(): string {
  const names = ["14000.jpg", "a &amp; b.png", "café é.jpg", "Ü/ü/ß.webp", "日本語.gif", "😀.png"];
  let body = "";
  for (let i = 0; i < 1000; i++) body += contents(`${i}-${names[i % names.length]}`, i);
  return page(
    body,
    "<KeyCount>1000</KeyCount><IsTruncated>true</IsTruncated>" +
      "<NextContinuationToken>next+/token==</NextContinuationToken>",
  );
}

Deno.test("decodePieces() cuts a page right after a </Contents> into pieces that join to the whole", () => {
  const xml = thousandKeys();
  const bytes = new TextEncoder().encode("\uFEFF" + xml); // with a byte-order mark, as some stores send
  const whole = new TextDecoder().decode(bytes);
  for (const size of [1, 100, 5_000, PIECE_BYTES, bytes.length, 10 * bytes.length]) {
    const pieces = decodePieces(bytes, size);
    assert.equal(pieces.join(""), whole, `size ${size}`);
    for (const piece of pieces.slice(0, -1)) {
      assert.ok(piece.endsWith("</Contents>"), `size ${size}`);
    }
  }
  // The default keeps every piece far below V8's large-object size (128 KiB), the point of it.
  const pieces = decodePieces(bytes);
  assert.ok(pieces.length > 4, `${pieces.length} pieces`);
  for (const piece of pieces) {
    assert.ok(piece.length * 2 < 128 * 1024, `${piece.length} characters`);
  }
  assert.deepEqual(decodePieces(new Uint8Array()), [""]);
});

Deno.test("a page read in pieces reads as the whole does, and as the SDK does", async () => {
  const xml = thousandKeys();
  const bytes = new TextEncoder().encode(xml);
  const whole = parseListObjectsV2(xml);
  assert.ok(whole);
  assert.equal(whole.Contents.length, 1000);
  for (const size of [1, 100, 5_000, PIECE_BYTES]) {
    const pieces = decodePieces(bytes, size);
    assert.deepEqual(parseListObjectsV2(pieces), whole, `size ${size}`);
    assert.equal(headToken(pieces[0]), "next+/token==");
  }
  assert.deepEqual(fastReading(xml), await sdkReading(xml));
  // The page's own fields after its keys, and a refusal in a middle piece, read as whole.
  const tail = page(contents("1.jpg") + contents("2.jpg"), "").replace(
    "</ListBucketResult>",
    "<IsTruncated>false</IsTruncated></ListBucketResult>",
  );
  const cdata = page(contents("1.jpg") + contents("<![CDATA[a]]>") + contents("3.jpg"));
  const attributes = page(
    contents("1.jpg") + `<Contents a="1"><Key>2.jpg</Key><Size>1</Size></Contents>` +
      contents("3.jpg"),
  );
  for (const text of [tail, cdata, attributes]) {
    const pieces = decodePieces(new TextEncoder().encode(text), 1);
    assert.ok(pieces.length >= 2);
    assert.deepEqual(parseListObjectsV2(pieces), parseListObjectsV2(text), text);
  }
  assert.equal(parseListObjectsV2(decodePieces(new TextEncoder().encode(cdata), 1)), null);
  assert.equal(parseListObjectsV2([]), null);
});
