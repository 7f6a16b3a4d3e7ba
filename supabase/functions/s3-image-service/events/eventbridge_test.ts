import assert from "node:assert/strict";
import { AppError } from "../../_shared/errors.ts";
import { isEventBridgeShape, readEventBridge } from "./eventbridge.ts";

/** AWS's documented "Object Created" example, our bucket and key. */
function objectCreated(overrides: Record<string, unknown> = {}) {
  return {
    version: "0",
    id: "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    source: "aws.s3",
    account: "123456789012",
    time: "2021-11-12T00:00:00Z",
    region: "ca-central-1",
    resources: ["arn:aws:s3:::product-images"],
    detail: {
      version: "0",
      bucket: { name: "product-images" },
      object: {
        key: "a b:c.jpg",
        size: 5,
        etag: "b1946ac92492d2347c6235b4d2611184",
        "version-id": "IYV3p45BhZA4yd3Q4T_Be8W4mu3LZrK",
        sequencer: "00617F08299329D189",
      },
      "request-id": "N4N7GDK58NMKJ12R",
      requester: "123456789012",
      "source-ip-address": "1.2.3.4",
      reason: "PutObject",
    },
    ...overrides,
  };
}

Deno.test("readEventBridge() reads Object Created; the key is taken as it is (not URL-encoded)", () => {
  const body = objectCreated();
  assert.ok(isEventBridgeShape(body));
  assert.deepEqual(readEventBridge(body), {
    events: [{
      bucket: "product-images",
      key: "a b:c.jpg",
      action: "created",
      sequencer: "00617F08299329D189",
      eventTime: "2021-11-12T00:00:00.000Z",
      size: 5,
      etag: "b1946ac92492d2347c6235b4d2611184",
    }],
    ignored: 0,
  });
});

Deno.test("readEventBridge() reads Object Deleted without size or etag", () => {
  const body = objectCreated({
    "detail-type": "Object Deleted",
    detail: {
      bucket: { name: "product-images" },
      object: { key: "1.jpg", sequencer: "00617F0829932A0000" },
      "deletion-type": "Permanently Deleted",
      reason: "DeleteObject",
    },
  });
  const { events } = readEventBridge(body);
  assert.deepEqual([events[0].action, events[0].size, events[0].etag], ["removed", null, null]);
});

Deno.test("readEventBridge() ignores other S3 event types and other sources", () => {
  assert.deepEqual(readEventBridge(objectCreated({ "detail-type": "Object Tags Added" })), {
    events: [],
    ignored: 1,
  });
  assert.deepEqual(readEventBridge(objectCreated({ source: "aws.ec2" })), {
    events: [],
    ignored: 1,
  });
});

Deno.test("readEventBridge() refuses an event it cannot read", () => {
  const isMalformed = (error: AppError) => error.code === "malformed_event";
  assert.throws(() => readEventBridge({ detail: {} }), isMalformed);
  assert.throws(() => readEventBridge(objectCreated({ time: "soon" })), isMalformed);
  assert.throws(() => readEventBridge(objectCreated({ detail: { bucket: {} } })), isMalformed);
});
