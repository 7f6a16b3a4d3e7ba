import assert from "node:assert/strict";
import { type Api, errorFromBody } from "./api.ts";
import type { Endpoint } from "./endpoints.ts";
import { declaredType, describeResult, UploadQueue } from "./upload_queue.ts";

Deno.test("describeResult() says stored, replaced or unchanged, with the key as sent back", () => {
  const base = { key: "14000.jpg", size: 10, contentType: "image/jpeg", width: 800, height: 600 };
  assert.equal(describeResult(base), 'Stored as "14000.jpg" (800×600, image/jpeg).');
  assert.match(describeResult({ ...base, replaced: true }), /^Replaced "14000\.jpg"/);
  assert.match(describeResult({ ...base, unchanged: true }), /^Already stored with identical/);
});

Deno.test("declaredType() prefers the browser's type and falls back to the extension", () => {
  assert.equal(declaredType(new File([], "a.jpg", { type: "image/png" }), "a.jpg"), "image/png");
  assert.equal(declaredType(new File([], "a"), "14000.JPEG"), "image/jpeg");
  assert.equal(declaredType(new File([], "a"), "14000.AVIF"), "image/avif");
  assert.equal(declaredType(new File([], "a"), "notes.txt"), "application/octet-stream");
});

Deno.test("errorFromBody() keeps the function's code and sentence", () => {
  const error = errorFromBody(409, {
    error: { code: "already_exists", message: 'An image named "a.jpg" exists' },
  });
  assert.equal(error.status, 409);
  assert.equal(error.code, "already_exists");
  assert.equal(error.message, 'An image named "a.jpg" exists');
  assert.match(errorFromBody(502, "<html>").message, /answered 502/);
});

Deno.test("UploadQueue: cancel while a direct upload is being signed stops it before anything is sent to the bucket", async () => {
  let answerSigning: (value: unknown) => void = () => {};
  const calls: string[] = [];
  const api = {
    config: { supabaseUrl: "http://127.0.0.1:1", anonKey: "pk", directUploadBytes: 1 },
    functionUrl: (path: string) => `http://127.0.0.1:1/functions/v1/${path}`,
    accessToken: () => Promise.resolve("token"),
    call: (endpoint: Endpoint<unknown>) => {
      calls.push(endpoint.path);
      return new Promise((resolve) => answerSigning = resolve);
    },
  } as unknown as Api;
  const queue = new UploadQueue(api);
  queue.add([new File([new Uint8Array(10)], "14000.jpg", { type: "image/jpeg" })]);
  const id = queue.items[0].id;
  queue.start();
  assert.equal(queue.items[0].state, "uploading");
  assert.deepEqual(calls, ["upload-to-s3/direct"]);

  queue.cancel(id);
  answerSigning({
    status: 200,
    data: {
      uploadUrl: "http://127.0.0.1:1/bucket/x",
      method: "PUT",
      headers: {},
      stagingKey: "_incoming/u/x/10/14000.jpg",
      exists: false,
    },
  });
  const deadline = Date.now() + 2_000;
  while (queue.items[0].state === "uploading" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // Had the PUT been attempted, XMLHttpRequest (absent here) would have failed it instead.
  assert.equal(queue.items[0].state, "cancelled", queue.items[0].message);
  assert.deepEqual(calls, ["upload-to-s3/direct"], "no confirm either");
});

Deno.test("UploadQueue.add() with a name and replace: stored under that key, and no replace question", async () => {
  const bodies: unknown[] = [];
  const api = {
    config: { supabaseUrl: "http://127.0.0.1:1", anonKey: "pk", directUploadBytes: 1 },
    functionUrl: (path: string) => `http://127.0.0.1:1/functions/v1/${path}`,
    accessToken: () => Promise.resolve("token"),
    call: (endpoint: Endpoint<unknown>) => {
      bodies.push(endpoint.body);
      // An image already has the key: without `replace` the queue would stop and ask.
      return Promise.resolve({
        status: 200,
        data: {
          uploadUrl: "http://127.0.0.1:1/bucket/x",
          method: "PUT",
          headers: {},
          stagingKey: "_incoming/u/x/10/14000.png",
          exists: true,
        },
      });
    },
  } as unknown as Api;
  const queue = new UploadQueue(api);
  queue.add([new File([new Uint8Array(10)], "IMG_0042.PNG", { type: "image/png" })], {
    name: "14000.png",
    replace: true,
  });
  queue.start();
  const deadline = Date.now() + 2_000;
  while (queue.items[0].state === "uploading" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal((bodies[0] as { filename: string }).filename, "14000.png");
  // It went on to the PUT (which fails here: no XMLHttpRequest) instead of asking again.
  assert.notEqual(queue.items[0].state, "exists");
  assert.equal(queue.items[0].name, "14000.png");
});
