import assert from "node:assert/strict";
import { formatTable, splitStatements } from "./sql.ts";

Deno.test("formatTable() prints a result as psql's aligned format does", () => {
  assert.equal(
    formatTable({ columns: ["add_file_to_s3_cache"], rows: [["SUCCESS"]] }),
    [" add_file_to_s3_cache", "----------------------", " SUCCESS", "(1 row)"].join("\n"),
  );
  assert.equal(
    formatTable({ columns: ["a", "name"], rows: [["1", "14000.jpg"], [null, "x"]] }),
    [" a |   name", "---+-----------", " 1 | 14000.jpg", "   | x", "(2 rows)"].join("\n"),
  );
});

Deno.test("splitStatements() cuts SQL at semicolons outside quotes and comments", () => {
  assert.deepEqual(
    splitStatements("select 1;\nselect\n  2;\n\n;\nselect 3"),
    ["select 1;", "select\n  2;", "select 3"],
  );
  const body = "do $body$\nbegin\n  perform 1;\n  raise notice '$$;';\nend\n$body$;";
  assert.deepEqual(splitStatements(`${body}\nselect 'a;b', "c;d" -- e;f\n;`), [
    body,
    `select 'a;b', "c;d" -- e;f\n;`,
  ]);
  assert.deepEqual(splitStatements("/* x; */ select $1;"), ["/* x; */ select $1;"]);
});
