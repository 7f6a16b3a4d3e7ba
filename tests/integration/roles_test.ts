/**
 * The role matrix (`tests/hostile/roles.tsv`) over HTTP: every route of both functions called by
 * every kind of caller, each answer's status and code as the table says, CORS headers on every
 * answer (refusals included), and nothing changed in the index, the jobs or the bucket.
 */
import assert from "node:assert/strict";
import { readTable, type TableRow } from "../hostile/table.ts";
import { bucketKeys } from "../support/bucket.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";
import { projectToken, userClaims } from "../support/tokens.ts";

const CALLERS = [
  "none",
  "anon_key",
  "publishable",
  "viewer",
  "user_metadata",
  "app_service",
  "manager",
  "admin",
  "service_legacy",
  "service_secret",
] as const;
type CallerName = typeof CALLERS[number];

/** The role each caller must be seen as (`GET /health` answers it), so no escalation hides. */
const SEEN_AS: Record<CallerName, string | undefined> = {
  none: undefined,
  anon_key: "anon",
  publishable: "anon",
  viewer: "authenticated",
  user_metadata: "authenticated",
  app_service: "authenticated",
  manager: "manager",
  admin: "admin",
  service_legacy: "service_role",
  service_secret: "service_role",
};

/** The credentials each caller sends. */
async function credentials(): Promise<Record<CallerName, Record<string, string>>> {
  const info = stackInfo();
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const user = async (n: number, extra: Record<string, unknown>) =>
    bearer(
      await projectToken(
        userClaims({
          sub: `00000000-0000-4000-8000-0000000013${String(n).padStart(2, "0")}`,
          ...extra,
        }),
      ),
    );
  return {
    none: {},
    anon_key: bearer(info.ANON_KEY),
    publishable: { apikey: info.PUBLISHABLE_KEY },
    viewer: await user(1, {}),
    user_metadata: await user(2, { user_metadata: { role: "admin" } }),
    app_service: await user(3, {
      app_metadata: { provider: "email", providers: ["email"], role: "service_role" },
    }),
    manager: bearer(info.MANAGER_TOKEN),
    admin: bearer(info.ADMIN_TOKEN),
    service_legacy: bearer(info.SERVICE_ROLE_KEY),
    service_secret: { apikey: info.SECRET_KEY },
  };
}

function requestBody(spec: string): { body?: string; type?: string } {
  if (spec === "-") return {};
  if (spec.startsWith("json:")) return { body: spec.slice(5), type: "application/json" };
  if (spec.startsWith("text:")) return { body: spec.slice(5), type: "text/plain" };
  throw new Error(`roles.tsv: unknown body "${spec}"`);
}

/** What the table expects `caller` to get from `row`'s request. */
function expected(row: TableRow, caller: CallerName): { status: number; code?: string } {
  const cell = row[caller];
  if (cell === "401") return { status: 401, code: "unauthorized" };
  if (cell === "403") return { status: 403, code: "forbidden" };
  if (cell === "ok") {
    return { status: Number(row.ok_status), code: row.ok_code === "-" ? undefined : row.ok_code };
  }
  throw new Error(`roles.tsv line ${row.line}: unknown cell "${cell}" for ${caller}`);
}

/** What could change: index rows, jobs, objects. */
async function state() {
  const [row] = await testDb()`
    select (select count(*)::int from public.s3_image_cache) as rows,
           (select coalesce(max(updated_at)::text, '') from public.s3_image_cache) as touched,
           (select count(*)::int from public.s3_cache_rebuilds) as jobs`;
  return { ...row, objects: (await bucketKeys()).length };
}

Deno.test("roles: every route × every caller answers as roles.tsv says, with CORS, and changes nothing", async () => {
  const rows = await readTable("roles.tsv");
  assert.ok(rows.length >= 18, "every route of both functions is in the table");
  const headers = await credentials();
  const before = await state();
  const wrong: string[] = [];
  for (const row of rows) {
    const { body, type } = requestBody(row.body);
    for (const caller of CALLERS) {
      const want = expected(row, caller);
      const response = await fetch(`${stackInfo().FUNCTIONS_URL}/${row.function}${row.path}`, {
        method: row.method,
        headers: { ...headers[caller], ...(type ? { "content-type": type } : {}) },
        body,
      });
      const text = await response.text();
      let code: string | undefined;
      let role: string | undefined;
      try {
        const parsed = JSON.parse(text);
        code = parsed.error?.code;
        role = parsed.role;
      } catch {
        code = `(not JSON: ${text.slice(0, 40)})`;
      }
      const cors = response.headers.get("access-control-allow-origin");
      const got = { status: response.status, code };
      const label = `${row.function} ${row.method} ${row.path} as ${caller}`;
      if (got.status !== want.status || got.code !== want.code) {
        wrong.push(`${label}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
      if (!cors) wrong.push(`${label}: no Access-Control-Allow-Origin`);
      if (row.path === "/health" && response.ok && role !== SEEN_AS[caller]) {
        wrong.push(`${label}: seen as ${role}, want ${SEEN_AS[caller]}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(await state(), before, "no call changed the index, the jobs or the bucket");
  await closeTestDb();
});
