import assert from "node:assert/strict";
import { z } from "zod";
import { AppError } from "../errors.ts";
import { parseJsonBody, parseQuery } from "./json_body.ts";

const Body = z.strictObject({ filename: z.string(), force: z.boolean().default(false) });
const post = (body: string) => new Request("http://x/files", { method: "POST", body });

Deno.test("parseJsonBody() validates and fills defaults", async () => {
  assert.deepEqual(await parseJsonBody(post('{"filename":"1.jpg"}'), Body), {
    filename: "1.jpg",
    force: false,
  });
});

Deno.test("parseJsonBody() treats an empty body as {}", async () => {
  assert.deepEqual(await parseJsonBody(post(""), z.object({ a: z.number().optional() })), {});
});

Deno.test("parseJsonBody() answers invalid_json and validation_failed naming the field", async () => {
  await assert.rejects(
    parseJsonBody(post("{nope"), Body),
    (e: AppError) => e.code === "invalid_json",
  );
  await assert.rejects(parseJsonBody(post('{"filename":1}'), Body), (e: AppError) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, "validation_failed");
    assert.match(e.message, /^Invalid request body: filename: /);
    return true;
  });
  await assert.rejects(
    parseJsonBody(post('{"filename":"a","extra":true}'), Body),
    (e: AppError) => e.code === "validation_failed",
  );
});

Deno.test("parseJsonBody() refuses a body over 64 KiB", async () => {
  const big = JSON.stringify({ filename: "x".repeat(70_000) });
  await assert.rejects(parseJsonBody(post(big), Body), (e: AppError) => e.status === 413);
});

Deno.test("parseQuery() validates the query string", () => {
  const Query = z.strictObject({ limit: z.coerce.number().int().max(10).default(5) });
  assert.deepEqual(parseQuery(new Request("http://x/?limit=7"), Query), { limit: 7 });
  assert.throws(
    () => parseQuery(new Request("http://x/?limit=70"), Query),
    (e: AppError) => e.code === "validation_failed" && /^Invalid query: limit: /.test(e.message),
  );
});

Deno.test("parseJsonBody() refuses a body that is not UTF-8 text as invalid_json", async () => {
  const request = new Request("http://x/files", {
    method: "POST",
    body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
  });
  await assert.rejects(
    parseJsonBody(request, Body),
    (error: AppError) => error.status === 400 && error.code === "invalid_json",
  );
});
