/** @jsxImportSource preact */
/**
 * The index as a searchable, sortable, paginated table with thumbnails, a preview pane with the
 * signed URL to copy, quick-add by name, and (admins) remove, one or many.
 *
 * @module
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { endpoints } from "../endpoints.ts";
import { formatBytes, formatDate } from "../format.ts";
import { may, type Role } from "../session.ts";
import type { FilePage, ListedFile } from "../types.ts";
import { ConfirmDialog, ErrorNote } from "./common.tsx";
import { Preview } from "./Preview.tsx";
import { QuickAdd } from "./QuickAdd.tsx";

type SortKey = "filename" | "size_bytes" | "last_modified" | "updated_at";

const SORT_LABELS: Record<SortKey, string> = {
  filename: "Name",
  size_bytes: "Size",
  last_modified: "Last modified",
  updated_at: "Indexed",
};

function compare(a: ListedFile, b: ListedFile, key: SortKey): number {
  const x = a[key] ?? "";
  const y = b[key] ?? "";
  if (typeof x === "number" && typeof y === "number") return x - y;
  // Byte order for names, like S3 and the index (`B` before `a`).
  return String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0;
}

/** The browse screen. */
export function BrowseView(props: { api: Api; role: Role; onChanged: () => void }) {
  const { api } = props;
  const isAdmin = may(props.role, "admins");
  const [prefix, setPrefix] = useState("");
  const [query, setQuery] = useState("");
  const [limit, setLimit] = useState(50);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<FilePage | null>(null);
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({
    key: "filename",
    descending: false,
  });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [previewed, setPreviewed] = useState<ListedFile | null>(null);
  const [removing, setRemoving] = useState<string[] | null>(null);
  const [alsoObject, setAlsoObject] = useState(false);
  const [removeReport, setRemoveReport] = useState("");
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    let live = true;
    api.call(endpoints.files({ prefix: query, limit, cursor: cursor ?? undefined })).then(
      ({ data }) => live && (setPage(data), setError(null)),
      (caught) => live && setError(caught),
    );
    return () => void (live = false);
  }, [api, query, limit, cursor, version]);

  const files = useMemo(() => {
    const list = [...(page?.files ?? [])].sort((a, b) => compare(a, b, sort.key));
    return sort.descending ? list.reverse() : list;
  }, [page, sort]);

  const reload = () => {
    setSelected(new Set());
    setVersion((v) => v + 1);
    props.onChanged();
  };

  async function remove(names: string[]) {
    setRemoving(null);
    const failures: string[] = [];
    let removed = 0;
    for (const name of names) {
      try {
        await api.call(endpoints.removeFile(name, alsoObject));
        removed++;
      } catch (caught) {
        failures.push(`"${name}": ${caught instanceof Error ? caught.message : String(caught)}`);
      }
    }
    setRemoveReport(
      `Removed ${removed} of ${names.length}.` +
        (failures.length ? ` Not removed: ${failures.join("; ")}` : ""),
    );
    if (previewed && names.includes(previewed.filename)) setPreviewed(null);
    setAlsoObject(false);
    reload();
  }

  const sortHeader = (key: SortKey) => {
    const active = sort.key === key;
    return (
      <th
        scope="col"
        aria-sort={active ? (sort.descending ? "descending" : "ascending") : "none"}
      >
        <button
          type="button"
          class="sort"
          onClick={() => setSort({ key, descending: active ? !sort.descending : false })}
        >
          {SORT_LABELS[key]} {active ? (sort.descending ? "▼" : "▲") : ""}
        </button>
      </th>
    );
  };

  return (
    <section aria-labelledby="browse-title">
      <h2 id="browse-title">Browse the index</h2>
      <QuickAdd api={api} onAdded={reload} />
      <form
        class="toolbar"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setCursors([null]);
          setQuery(prefix);
        }}
      >
        <label for="browse-prefix">Name starts with</label>
        <input
          id="browse-prefix"
          type="search"
          spellcheck={false}
          value={prefix}
          onInput={(e) => setPrefix(e.currentTarget.value)}
        />
        <button type="submit">Search</button>
        <label for="browse-limit">Per page</label>
        <select
          id="browse-limit"
          value={String(limit)}
          onChange={(e) => {
            setCursors([null]);
            setLimit(Number(e.currentTarget.value));
          }}
        >
          {[25, 50, 100, 200].map((n) => <option key={n} value={String(n)}>{n}</option>)}
        </select>
      </form>
      <ErrorNote error={error} />
      {removeReport && <p role="status" data-testid="remove-report">{removeReport}</p>}
      {isAdmin && (
        <div class="toolbar">
          <button
            type="button"
            class="danger"
            disabled={selected.size === 0}
            onClick={() => setRemoving([...selected])}
          >
            Remove selected ({selected.size})
          </button>
        </div>
      )}
      <div class={`browse${previewed ? " with-preview" : ""}`}>
        <div class="table-wrap">
          <table>
            <caption class="sr-only">
              Indexed images{query ? ` starting with "${query}"` : ""}, page{" "}
              {cursors.length}; sorting orders this page
            </caption>
            <thead>
              <tr>
                {isAdmin && (
                  <th scope="col">
                    <input
                      type="checkbox"
                      aria-label="Select every image on this page"
                      checked={files.length > 0 && files.every((f) => selected.has(f.filename))}
                      onChange={(e) =>
                        setSelected(
                          e.currentTarget.checked
                            ? new Set(files.map((f) => f.filename))
                            : new Set(),
                        )}
                    />
                  </th>
                )}
                <th scope="col">
                  <span class="sr-only">Thumbnail</span>
                </th>
                {sortHeader("filename")}
                {sortHeader("size_bytes")}
                <th scope="col">Type</th>
                <th scope="col">Dimensions</th>
                {sortHeader("last_modified")}
                {sortHeader("updated_at")}
              </tr>
            </thead>
            <tbody>
              {files.map((file) => (
                <tr key={file.filename} data-filename={file.filename}>
                  {isAdmin && (
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select ${file.filename}`}
                        checked={selected.has(file.filename)}
                        onChange={(e) => {
                          const next = new Set(selected);
                          e.currentTarget.checked
                            ? next.add(file.filename)
                            : next.delete(file.filename);
                          setSelected(next);
                        }}
                      />
                    </td>
                  )}
                  <td>
                    {file.url
                      ? (
                        <img
                          class="thumb"
                          src={file.url}
                          alt=""
                          loading="lazy"
                          width={40}
                          height={40}
                        />
                      )
                      : null}
                  </td>
                  <td>
                    <button type="button" class="link filename" onClick={() => setPreviewed(file)}>
                      {file.filename}
                    </button>
                  </td>
                  <td>{formatBytes(file.size_bytes)}</td>
                  <td>{file.content_type ?? "—"}</td>
                  <td>{file.width && file.height ? `${file.width}×${file.height}` : "—"}</td>
                  <td>{formatDate(file.last_modified)}</td>
                  <td>{formatDate(file.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {page && files.length === 0 && (
            <p class="muted">
              {query ? `No image name starts with "${query}".` : "The index is empty."}
            </p>
          )}
          <nav class="pager" aria-label="Pages">
            <button
              type="button"
              disabled={cursors.length === 1}
              onClick={() => setCursors(cursors.slice(0, -1))}
            >
              Previous
            </button>
            <span>Page {cursors.length}</span>
            <button
              type="button"
              disabled={!page?.nextCursor}
              onClick={() => page?.nextCursor && setCursors([...cursors, page.nextCursor])}
            >
              Next
            </button>
          </nav>
        </div>
        {previewed && (
          <Preview
            file={previewed}
            isAdmin={isAdmin}
            onRemove={(file) => setRemoving([file.filename])}
            onClose={() => setPreviewed(null)}
          />
        )}
      </div>
      <ConfirmDialog
        open={removing !== null}
        title={removing?.length === 1
          ? `Remove "${removing[0]}"?`
          : `Remove ${removing?.length ?? 0} images?`}
        confirmLabel="Remove"
        danger
        onConfirm={() => removing && remove(removing)}
        onCancel={() => setRemoving(null)}
      >
        <p>
          The storefront stops showing {removing?.length === 1 ? "this image" : "these images"}.
        </p>
        <label class="checkbox">
          <input
            type="checkbox"
            checked={alsoObject}
            onChange={(e) => setAlsoObject(e.currentTarget.checked)}
          />{" "}
          Also delete the image from the bucket (cannot be undone)
        </label>
      </ConfirmDialog>
    </section>
  );
}
