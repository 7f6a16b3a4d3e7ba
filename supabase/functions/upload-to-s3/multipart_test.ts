import assert from "node:assert/strict";
import type { AppError } from "../_shared/errors.ts";
import { dispositionParams, indexOfBytes, multipartBoundary, parseMultipart } from "./multipart.ts";

async function encode(form: FormData): Promise<{ body: Uint8Array; boundary: string }> {
  const request = new Request("http://x/", { method: "POST", body: form });
  const boundary = multipartBoundary(request.headers.get("content-type"));
  assert.ok(boundary);
  return { body: new Uint8Array(await request.arrayBuffer()), boundary };
}

Deno.test("parseMultipart() reads what fetch's FormData encoder writes, byte for byte", async () => {
  const bytes = new Uint8Array(70_000).map((_, i) => (i * 7919) % 251);
  bytes.set(new TextEncoder().encode("\r\n--\r\n\r\n"), 100); // boundary-like noise in the file
  const form = new FormData();
  form.set("file", new File([bytes], 'Ünïcode "q".JPG', { type: "image/jpeg" }));
  form.set("filename", "14000.jpg");
  form.set("replace", "true");
  const { body, boundary } = await encode(form);
  const parsed = parseMultipart(body, boundary);
  const file = parsed.files.get("file");
  assert.ok(file);
  assert.equal(file.filename, 'Ünïcode "q".JPG');
  assert.equal(file.contentType, "image/jpeg");
  assert.deepEqual(file.bytes, bytes);
  assert.equal(file.bytes.buffer, body.buffer, "the file is a view, not a copy");
  assert.equal(parsed.fields.get("filename"), "14000.jpg");
  assert.equal(parsed.fields.get("replace"), "true");
});

Deno.test("parseMultipart() reads an empty file part", async () => {
  const form = new FormData();
  form.set("file", new File([], "empty.png"));
  const { body, boundary } = await encode(form);
  assert.equal(parseMultipart(body, boundary).files.get("file")?.bytes.length, 0);
});

Deno.test("parseMultipart() refuses a body cut before its closing boundary", async () => {
  const form = new FormData();
  form.set("file", new File([new Uint8Array(1000)], "a.png"));
  const { body, boundary } = await encode(form);
  assert.throws(
    () => parseMultipart(body.subarray(0, 600), boundary),
    (error: AppError) => error.code === "bad_request" && /closing boundary/.test(error.message),
  );
});

Deno.test("parseMultipart() refuses a field sent twice", async () => {
  const form = new FormData();
  form.append("file", new File([new Uint8Array(3)], "a.png"));
  form.append("file", new File([new Uint8Array(3)], "b.png"));
  const { body, boundary } = await encode(form);
  assert.throws(() => parseMultipart(body, boundary), /more than once/);
});

Deno.test("multipartBoundary() accepts only multipart/form-data with a boundary", () => {
  assert.equal(multipartBoundary('multipart/form-data; boundary="a b"'), "a b");
  assert.equal(multipartBoundary("Multipart/Form-Data;boundary=xyz"), "xyz");
  assert.equal(multipartBoundary("multipart/form-data"), undefined);
  assert.equal(multipartBoundary("application/json"), undefined);
  assert.equal(multipartBoundary(null), undefined);
});

Deno.test("dispositionParams() prefers nothing over order and decodes filename*", () => {
  const params = dispositionParams(
    `form-data; name="file"; filename="fallback.jpg"; filename*=UTF-8''%C3%BC.jpg`,
  );
  assert.equal(params.get("name"), "file");
  assert.equal(params.get("filename"), "fallback.jpg");
  assert.equal(params.get("filename*"), "ü.jpg");
});

Deno.test("indexOfBytes() finds long and short needles exactly where a naive search does", () => {
  const naive = (hay: Uint8Array, needle: Uint8Array, from: number, until: number) => {
    for (let at = from; at + needle.length <= Math.min(until, hay.length); at++) {
      if (needle.every((byte, i) => hay[at + i] === byte)) return at;
    }
    return -1;
  };
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) >>> 0) >>> 24;
  for (let round = 0; round < 300; round++) {
    // A small alphabet makes near misses (a matching tail, a wrong start) common.
    const hay = Uint8Array.from({ length: 50 + (round % 200) }, () => random() % 3);
    const length = round % 2 ? 2 + (round % 5) : 8 + (round % 40);
    const needle = Uint8Array.from({ length }, () => random() % 3);
    if (round % 3 === 0 && hay.length > needle.length) hay.set(needle, hay.length - needle.length);
    const from = round % 7;
    const until = round % 5 === 0 ? hay.length - 3 : hay.length;
    assert.equal(
      indexOfBytes(hay, needle, from, until),
      naive(hay, needle, from, until),
      `round ${round}`,
    );
  }
});

Deno.test("parseMultipart() reads a file made of its own boundary's bytes (the worst case)", () => {
  const boundary = "a".repeat(70);
  const content = new Uint8Array(256 * 1024).fill(0x61);
  const head = new TextEncoder().encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n`,
  );
  const tail = new TextEncoder().encode(`\r\n--${boundary}--\r\n`);
  const body = new Uint8Array([...head, ...content, ...tail]);
  const form = parseMultipart(body, boundary);
  assert.deepEqual(form.files.get("file")?.bytes, content);
});

Deno.test("multipartBoundary() refuses boundaries RFC 2046 does not allow", () => {
  assert.equal(multipartBoundary(`multipart/form-data; boundary="${"b".repeat(71)}"`), undefined);
  assert.equal(multipartBoundary('multipart/form-data; boundary="ends with space "'), undefined);
  assert.equal(multipartBoundary('multipart/form-data; boundary="semi;colon"'), undefined);
  assert.equal(
    multipartBoundary("multipart/form-data; boundary=----WebKitFormBoundaryA1"),
    "----WebKitFormBoundaryA1",
  );
});
