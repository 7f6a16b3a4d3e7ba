/**
 * The image index in memory behind the {@linkcode ImageIndex} interface, with the SQL API's
 * name rules, for unit tests. Integration tests use the real SQL API instead.
 *
 * @module
 */
import type { EntryMetadata, ImageIndex, IndexEntry } from "../image_index.ts";
import { filenameProblem, normalizeFilename } from "../names.ts";

/** The image index in memory, following the SQL API's answers (names checked the same way). */
export class FakeIndex implements ImageIndex {
  rows = new Map<string, IndexEntry>();
  /** When set, every call rejects with it. */
  failWith: unknown;

  #check() {
    if (this.failWith) throw this.failWith;
  }

  add(filename: string, metadata: EntryMetadata = {}) {
    this.#check();
    const problem = filenameProblem(filename);
    if (problem) return Promise.reject(new Error(`Cannot add "${filename}": ${problem}`));
    this.rows.set(filename, {
      filename,
      size_bytes: metadata.sizeBytes ?? null,
      etag: metadata.etag ?? null,
      content_type: metadata.contentType ?? null,
      last_modified: metadata.lastModified ?? null,
      width: metadata.width ?? null,
      height: metadata.height ?? null,
      updated_at: new Date(),
    });
    return Promise.resolve();
  }

  /** The row's key as the SQL API addresses a name: exactly as stored, else its stored form. */
  #address(filename: string): string | undefined {
    if (this.rows.has(filename)) return filename;
    const stored = normalizeFilename(filename);
    return stored !== undefined && this.rows.has(stored) ? stored : undefined;
  }

  remove(filename: string) {
    this.#check();
    const key = this.#address(filename);
    if (key === undefined) {
      const problem = filenameProblem(filename);
      if (problem) return Promise.reject(new Error(`Cannot remove "${filename}": ${problem}`));
      return Promise.resolve(null);
    }
    this.rows.delete(key);
    return Promise.resolve(key);
  }

  get(filename: string) {
    this.#check();
    const key = this.#address(filename);
    return Promise.resolve(key === undefined ? null : this.rows.get(key)!);
  }

  lookup(filenames: string[]) {
    this.#check();
    return Promise.resolve(filenames.flatMap((name) => this.rows.get(name) ?? []));
  }

  search({ prefix = "", after, pageSize = 100 }: {
    prefix?: string;
    after?: string;
    pageSize?: number;
  }) {
    this.#check();
    const names = [...this.rows.keys()].sort()
      .filter((name) => name.startsWith(prefix) && (after === undefined || name > after));
    return Promise.resolve(names.slice(0, pageSize).map((name) => this.rows.get(name)!));
  }

  stats() {
    this.#check();
    return Promise.resolve({ files: this.rows.size });
  }
}
