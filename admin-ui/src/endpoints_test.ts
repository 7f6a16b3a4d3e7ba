import assert from "node:assert/strict";
import { endpoints, statusEndpoint } from "./endpoints.ts";

Deno.test("statusEndpoint() keeps the path of the server's statusUrl, never its host", () => {
  const fromHosted = statusEndpoint(
    "https://abc.supabase.co/functions/v1/s3-image-service/rebuild/7",
  );
  assert.deepEqual(fromHosted, { path: "s3-image-service/rebuild/7", method: "GET" });
  // A function behind an internal gateway names a host the browser cannot reach.
  assert.equal(
    statusEndpoint("http://kong:8000/functions/v1/s3-image-service/reconcile/9?sampleLimit=5").path,
    "s3-image-service/reconcile/9?sampleLimit=5",
  );
  assert.equal(
    statusEndpoint("/functions/v1/s3-image-service/rebuild/7").path,
    "s3-image-service/rebuild/7",
  );
  assert.throws(() => statusEndpoint("https://elsewhere.example/steal"), /outside its functions/);
});

Deno.test("endpoints.removeFile() encodes the name and asks for the object only when told", () => {
  assert.deepEqual(endpoints.removeFile("a b#?.jpg", false), {
    path: "s3-image-service/files/a%20b%23%3F.jpg",
    method: "DELETE",
  });
  assert.equal(
    endpoints.removeFile("14000.jpg", true).path,
    "s3-image-service/files/14000.jpg?deleteObject=true",
  );
});
