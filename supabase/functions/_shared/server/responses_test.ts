import assert from "node:assert/strict";
import { ERRORS } from "../errors.ts";
import { serveJson, subPath } from "./responses.ts";

Deno.test("serveJson() answers OPTIONS without calling the handler", async () => {
  const handler = serveJson(() => {
    throw new Error("must not run");
  });
  const response = await handler(new Request("http://x/f", { method: "OPTIONS" }));
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
});

Deno.test("serveJson() renders an AppError with its status, code and CORS", async () => {
  const handler = serveJson(() => {
    throw ERRORS.NameInvalid('Cannot add file "a/b.jpg": path segments are not allowed');
  });
  const response = await handler(new Request("http://x/f"));
  assert.equal(response.status, 400);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
  assert.deepEqual(await response.json(), {
    error: {
      code: "invalid_filename",
      message: 'Cannot add file "a/b.jpg": path segments are not allowed',
    },
  });
});

Deno.test("serveJson() hides an unexpected error's message behind a 500", async () => {
  const original = console.error;
  console.error = () => {};
  try {
    const handler = serveJson(() => {
      throw new Error("password=hunter2 at db.internal:5432");
    });
    const response = await handler(new Request("http://x/f"));
    assert.equal(response.status, 500);
    const body = await response.text();
    assert.doesNotMatch(body, /hunter2|db\.internal/);
    assert.match(body, /internal_error/);
  } finally {
    console.error = original;
  }
});

Deno.test("serveJson() maps a database outage to 503", async () => {
  const original = console.error;
  console.error = () => {};
  try {
    const handler = serveJson(() => {
      throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    });
    const response = await handler(new Request("http://x/f"));
    assert.equal(response.status, 503);
  } finally {
    console.error = original;
  }
});

Deno.test("subPath() strips the function prefix in hosted and local URL shapes", () => {
  const path = (url: string) => subPath(new Request(url), "s3-image-service");
  assert.equal(path("http://h/functions/v1/s3-image-service/rebuild/7"), "/rebuild/7");
  assert.equal(path("http://h/s3-image-service/stats/"), "/stats");
  assert.equal(path("http://h/s3-image-service"), "/");
});
