/**
 * Line coverage of the unit tier over every source file of `supabase/functions`, including the
 * files no unit test loads (Deno's `--coverage` only knows loaded files, which would let an
 * untested module raise the figure by being left out).
 *
 * How: the tests run with `deno test --coverage`; a second, tiny `deno run --coverage` merely
 * imports each file the tests never loaded, so Deno itself says which of its lines are code
 * (its own rule: not blank, not only comments), and those lines count as not covered.
 *
 * @module
 */
import { relative } from "node:path";
import { run } from "../stack/process.ts";

/** Lines Deno counts as code in one file, and how many of them ran. */
export interface FileCoverage {
  /** Path relative to the repository root, with `/` separators. */
  path: string;
  found: number;
  hit: number;
  /** Whether any unit test loaded the file (false: counted as 0%). */
  loaded: boolean;
}

/** The unit tier's coverage of a tree. */
export interface CoverageSummary {
  files: FileCoverage[];
  found: number;
  hit: number;
  /** `hit / found` as a percentage; 100 for a tree with no code lines. */
  percent: number;
}

/**
 * Reads an lcov report's per-file line counts (`SF:`, `DA:`), by absolute file path.
 *
 * @example
 * ```ts
 * parseLcov("SF:/r/a.ts\nDA:1,1\nDA:2,0\nend_of_record\n"); // Map { "/r/a.ts" => {found: 2, hit: 1} }
 * ```
 */
export function parseLcov(text: string): Map<string, { found: number; hit: number }> {
  const files = new Map<string, { found: number; hit: number }>();
  let current: { found: number; hit: number } | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("SF:")) {
      current = { found: 0, hit: 0 };
      files.set(line.slice(3).trim(), current);
    } else if (line.startsWith("DA:") && current) {
      const count = Number(line.slice(3).split(",")[1]);
      current.found++;
      if (count > 0) current.hit++;
    } else if (line.startsWith("end_of_record")) {
      current = undefined;
    }
  }
  return files;
}

/** Whether `path` (relative, `/`-separated) is a source file whose lines count. */
export function isCountedSource(path: string): boolean {
  return /\.(ts|tsx|js|mjs)$/.test(path) && !/(^|[_./])test\.(ts|tsx|js|mjs)$/.test(path) &&
    !path.split("/").includes("testdata");
}

/**
 * Joins the tests' lcov (`tested`) with the line counts of the files they never loaded
 * (`unloaded`, whose hits are ignored: importing a file is not testing it) over `sources`.
 *
 * @param sources Relative paths of every counted source file.
 * @param root Absolute repository root the lcov paths are relative to.
 */
export function summarizeCoverage(
  sources: readonly string[],
  tested: Map<string, { found: number; hit: number }>,
  unloaded: Map<string, { found: number; hit: number }>,
  root: string,
): CoverageSummary {
  const byPath = (report: Map<string, { found: number; hit: number }>) =>
    new Map([...report].map(([file, counts]) => [relativePath(root, file), counts]));
  const testedByPath = byPath(tested);
  const unloadedByPath = byPath(unloaded);
  const files = sources.map((path): FileCoverage => {
    const counts = testedByPath.get(path);
    if (counts) return { path, ...counts, loaded: true };
    return { path, found: unloadedByPath.get(path)?.found ?? 0, hit: 0, loaded: false };
  });
  const found = files.reduce((sum, file) => sum + file.found, 0);
  const hit = files.reduce((sum, file) => sum + file.hit, 0);
  return { files, found, hit, percent: found === 0 ? 100 : (100 * hit) / found };
}

function relativePath(root: string, file: string): string {
  const path = file.startsWith("file://") ? new URL(file).pathname : file;
  return relative(root, path).split("\\").join("/");
}

/** The percentage as `npm test` prints it: one decimal, rounded down so 84.96 never reads 85.0. */
export function formatPercent(percent: number): string {
  return `${(Math.floor(percent * 10) / 10).toFixed(1)}%`;
}

/**
 * The report's lines: the headline, then the least covered files (the ones to test next).
 *
 * @param options.tree The tree measured, as named in the headline.
 * @param options.worst How many of the least covered files to list (default 8).
 */
export function formatCoverage(
  summary: CoverageSummary,
  options: { tree: string; worst?: number },
): string[] {
  const unloaded = summary.files.filter((file) => !file.loaded && file.found > 0).length;
  const lines = [
    `coverage: ${formatPercent(summary.percent)} of lines in ${options.tree} ` +
    `(${summary.hit}/${summary.found}; ${summary.files.length} files, ${unloaded} that no ` +
    `unit test loads count as 0%)`,
  ];
  const worst = summary.files
    .filter((file) => file.found > file.hit)
    .sort((a, b) => a.hit / a.found - b.hit / b.found || b.found - a.found)
    .slice(0, options.worst ?? 8);
  for (const file of worst) {
    const note = file.loaded ? "" : "  (no unit test loads it)";
    lines.push(
      `  ${formatPercent((100 * file.hit) / file.found).padStart(6)}  ` +
        `${String(file.found - file.hit).padStart(4)} lines not run  ${file.path}${note}`,
    );
  }
  return lines;
}

/** Every counted source file under `tree` (relative to `root`), sorted. */
export async function listSources(root: string, tree: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(`${root}/${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && isCountedSource(path)) found.push(path);
    }
  };
  await walk(tree.replace(/\/+$/, ""));
  return found.sort();
}

/** What {@linkcode measureCoverage} needs. */
export interface MeasureOptions {
  /** Absolute repository root (with or without a trailing `/`). */
  root: string;
  /** The tree whose files count, relative to `root` (`supabase/functions`). */
  tree: string;
  /** The directory `deno test --coverage=` wrote. */
  profile: string;
  /** The `deno` binary. */
  deno: string;
  /** A scratch directory for the unloaded files' profile. */
  scratch: string;
}

/**
 * The coverage of `tree` from a test run's profile, with every file the tests never loaded
 * counted as 0% (its code lines found by importing it once under `deno run --coverage`).
 */
export async function measureCoverage(options: MeasureOptions): Promise<CoverageSummary> {
  const root = options.root.replace(/\/+$/, "");
  const sources = await listSources(root, options.tree);
  const tested = parseLcov(await lcovOf(options.deno, options.profile, root));
  const loaded = new Set([...tested.keys()].map((file) => relativePath(root, file)));
  const missing = sources.filter((path) => !loaded.has(path));
  let unloaded = new Map<string, { found: number; hit: number }>();
  if (missing.length) {
    // Importing runs only the module's top level: no handler, no server (`index.ts` files
    // export their handler; `deno serve` is what starts one).
    const loader = `${options.scratch}/load_unloaded.ts`;
    const failures = `${options.scratch}/load_failures.json`;
    await Deno.writeTextFile(
      loader,
      `const failed: string[] = [];\n` +
        `for (const url of ${JSON.stringify(missing.map((p) => `file://${root}/${p}`))}) {\n` +
        `  try { await import(url); } catch (error) { failed.push(url); console.error(url, error); }\n` +
        `}\nawait Deno.writeTextFile(${JSON.stringify(failures)}, JSON.stringify(failed));\n`,
    );
    const profile = `${options.scratch}/unloaded`;
    await run([
      options.deno,
      "run",
      "--allow-all",
      "--no-check",
      `--config=${root}/deno.json`,
      `--coverage=${profile}`,
      loader,
    ], { cwd: root });
    unloaded = parseLcov(await lcovOf(options.deno, profile, root));
    const failed = new Set<string>(
      JSON.parse(
        await Deno.readTextFile(failures).catch(() =>
          JSON.stringify(missing.map((p) => `file://${root}/${p}`))
        ),
      ),
    );
    for (const path of missing) {
      const file = `${root}/${path}`;
      if (unloaded.has(file)) continue;
      if (!failed.has(`file://${file}`)) {
        // Imported, yet absent from the profile: a types-only module, with no line that runs.
        unloaded.set(file, { found: 0, hit: 0 });
        continue;
      }
      // It failed to import (the loader said why): count its lines roughly rather than as none.
      const text = await Deno.readTextFile(file);
      unloaded.set(file, { found: roughCodeLines(text), hit: 0 });
    }
  }
  return summarizeCoverage(sources, tested, unloaded, root);
}

/** Lines that are neither blank nor plainly comments: a stand-in for Deno's own count. */
export function roughCodeLines(text: string): number {
  return text.split("\n").filter((line) => {
    const trimmed = line.trim();
    return trimmed !== "" && !/^(\/\/|\/\*|\*)/.test(trimmed);
  }).length;
}

async function lcovOf(deno: string, profile: string, root: string): Promise<string> {
  const { stdout } = await run([deno, "coverage", "--lcov", profile], { cwd: root });
  return stdout;
}
