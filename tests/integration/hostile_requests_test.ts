/**
 * Hostile request input (`tests/hostile/requests.json`: wrong types, extra fields, not JSON, too
 * large, bad ids and queries) and bad credentials of every kind (`tests/hostile/tokens.tsv`, sent
 * on every route of `roles.tsv`): each answered with its status and code, with CORS headers, and
 * nothing changed in the index, the jobs or the bucket.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { readTable } from "../hostile/table.ts";
import { bucketKeys } from "../support/bucket.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";
import { foreignToken, projectToken, userClaims } from "../support/tokens.ts";

interface RequestCase {
  case: string;
  function: string;
  method: string;
  path: string;
  caller: "admin" | "manager" | "service";
  body?: string;
  bodyHex?: string;
  repeatBody?: number;
  status: number;
  code: string;
}

const CASES = (JSON.parse(
  await Deno.readTextFile(new URL("../hostile/requests.json", import.meta.url)),
) as { cases: RequestCase[] }).cases;

/** Everything a refused request could have changed. */
async function state() {
  const [row] = await testDb()`
    select (select count(*)::int from public.s3_image_cache) as rows,
           (select coalesce(max(updated_at)::text, '') from public.s3_image_cache) as touched,
           (select count(*)::int from public.s3_cache_rebuilds) as jobs,
           (select coalesce(max(id), 0)::int from public.s3_cache_rebuilds) as last_job`;
  return { ...row, objects: (await bucketKeys()).length };
}

/** The `sub` of a token, read without verifying (it is the stack's own manager token). */
const subOf = (token: string) => JSON.parse(atob(token.split(".")[1])).sub as string;

function bodyOf(c: RequestCase): BodyInit | undefined {
  const info = stackInfo();
  if (c.bodyHex) {
    return new Uint8Array(c.bodyHex.match(/../g)!.map((h) => parseInt(h, 16)));
  }
  if (c.body === undefined) return undefined;
  return c.body.repeat(c.repeatBody ?? 1)
    .replaceAll("{OWNER}", subOf(info.MANAGER_TOKEN))
    .replaceAll("{OTHER}", "00000000-0000-4000-8000-00000000beef")
    .replaceAll("{A2000}", "a".repeat(2000));
}

async function send(
  fn: string,
  method: string,
  path: string,
  headers: HeadersInit,
  body?: BodyInit,
): Promise<{ status: number; code?: string; cors: string | null }> {
  const response = await fetch(`${stackInfo().FUNCTIONS_URL}/${fn}${path}`, {
    method,
    headers,
    body,
  });
  const text = await response.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text).error?.code;
  } catch {
    code = `(not JSON: ${text.slice(0, 40)})`;
  }
  return {
    status: response.status,
    code,
    cors: response.headers.get("access-control-allow-origin"),
  };
}

Deno.test("hostile requests: every bad body, id and query is refused as requests.json says and changes nothing", async () => {
  const info = stackInfo();
  const callers = {
    admin: { authorization: `Bearer ${info.ADMIN_TOKEN}` },
    manager: { authorization: `Bearer ${info.MANAGER_TOKEN}` },
    service: { apikey: info.SECRET_KEY },
  };
  const before = await state();
  const wrong: string[] = [];
  for (const c of CASES) {
    const body = bodyOf(c);
    const headers = {
      ...callers[c.caller],
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    };
    const got = await send(c.function, c.method, c.path, headers, body);
    if (got.status !== c.status || got.code !== c.code) {
      wrong.push(`${c.case}: got ${got.status} ${got.code}, want ${c.status} ${c.code}`);
    }
    if (!got.cors) wrong.push(`${c.case}: no Access-Control-Allow-Origin on the error`);
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(await state(), before, "nothing changed");
  await closeTestDb();
});

/** The credentials headers of each bad kind in tokens.tsv. */
async function badCredentials(): Promise<Record<string, Record<string, string>>> {
  const info = stackInfo();
  const now = Math.floor(Date.now() / 1000);
  const sub = "00000000-0000-4000-8000-0000000013ad";
  const manager = { provider: "email", providers: ["email"], role: "manager" };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const b64url = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const jwks = await (await fetch(info.JWKS_URL)).json();
  const publicJwk = jwks.keys[0];
  const hs256 = (claims: Record<string, unknown>, secret: string) =>
    new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(secret));
  const [head, payload, signature] = info.MANAGER_TOKEN.split(".");
  const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
  claims.app_metadata = { ...claims.app_metadata, role: "admin" };
  const noExp = userClaims({ sub, app_metadata: manager });
  delete noExp.exp;
  return {
    expired: bearer(
      await projectToken(userClaims({ sub, app_metadata: manager, exp: now - 60 })),
    ),
    not_yet_valid: bearer(
      await projectToken(userClaims({ sub, app_metadata: manager, nbf: now + 3600 })),
    ),
    no_exp: bearer(await projectToken(noExp)),
    alg_none: bearer(
      `${b64url({ alg: "none", typ: "JWT" })}.${
        b64url(userClaims({ sub, app_metadata: { role: "admin" } }))
      }.`,
    ),
    foreign_key: bearer(await foreignToken(userClaims({ sub, app_metadata: manager }))),
    hs256_public_key: bearer(
      await hs256(userClaims({ sub, app_metadata: { role: "admin" } }), JSON.stringify(publicJwk)),
    ),
    hs256_default_secret: bearer(
      await hs256(
        { role: "service_role", iss: "supabase-demo", exp: now + 600 },
        "super-secret-jwt-token-with-at-least-32-characters-long",
      ),
    ),
    tampered_payload: bearer(`${head}.${b64url(claims)}.${signature}`),
    garbage: bearer("abc"),
    three_dots: bearer("a.b.c"),
    empty_bearer: { authorization: "Bearer " },
    basic_auth: { authorization: `Basic ${btoa(`${info.ADMIN_EMAIL}:${info.ADMIN_PASSWORD}`)}` },
    foreign_secret_key: { apikey: "sb_secret_aaaaaaaaaaaaaaaaaaaaaa_bbbbbbbb" },
    foreign_publishable_key: { apikey: "sb_publishable_aaaaaaaaaaaaaaaaaaaaaa_bbbbbbbb" },
    secret_key_as_bearer_prefix: bearer("sb_secret_garbage"),
  };
}

Deno.test("hostile tokens: every bad credential of tokens.tsv is refused on every route and changes nothing", async () => {
  const kinds = await readTable("tokens.tsv");
  const routes = await readTable("roles.tsv");
  const credentials = await badCredentials();
  assert.deepEqual(
    kinds.map((k) => k.kind).sort(),
    Object.keys(credentials).sort(),
    "a builder for every kind in the table",
  );
  const before = await state();
  const wrong: string[] = [];
  for (const kind of kinds) {
    for (const route of routes) {
      const body = route.body === "-" ? undefined : route.body.replace(/^(json|text):/, "");
      const got = await send(
        route.function,
        route.method,
        route.path,
        credentials[kind.kind],
        body,
      );
      if (got.status !== Number(kind.status) || got.code !== kind.code) {
        wrong.push(
          `${kind.kind} on ${route.function} ${route.method} ${route.path}: got ${got.status} ${got.code}`,
        );
      }
      if (!got.cors) wrong.push(`${kind.kind} on ${route.path}: no CORS header`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(await state(), before, "nothing changed");
  await closeTestDb();
});
