import assert from "node:assert/strict";
import type { Session } from "@supabase/supabase-js";
import { may, roleOf } from "./session.ts";

const sessionWith = (app_metadata: Record<string, unknown>, user_metadata = {}) =>
  ({ user: { app_metadata, user_metadata } }) as unknown as Session;

Deno.test("roleOf() reads app_metadata.role as the functions do, never user_metadata", () => {
  assert.equal(roleOf(sessionWith({ role: "admin" })), "admin");
  assert.equal(roleOf(sessionWith({ role: "manager" })), "manager");
  assert.equal(roleOf(sessionWith({ role: "owner" })), "none");
  assert.equal(roleOf(sessionWith({}, { role: "admin" })), "none");
});

Deno.test("may() offers what the functions' role sets allow", () => {
  assert.deepEqual(
    (["admin", "manager", "none"] as const).map((
      role,
    ) => [may(role, "staff"), may(role, "admins")]),
    [[true, true], [true, false], [false, false]],
  );
});
