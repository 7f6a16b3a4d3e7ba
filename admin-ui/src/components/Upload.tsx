/** @jsxImportSource preact */
/**
 * The upload screen: pick or drop files (or a folder), rename each before it goes, watch
 * progress, cancel, retry, answer the replace question; each refusal is shown next to its file
 * in the function's words.
 *
 * @module
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { formatBytes, formatDuration, formatRate } from "../format.ts";
import { type UploadItem, UploadQueue } from "../upload_queue.ts";

/** Every File under dropped entries, folders walked recursively. */
async function filesOfDrop(transfer: DataTransfer): Promise<File[]> {
  const entries = [...transfer.items]
    .map((item) => item.webkitGetAsEntry?.())
    .filter((entry): entry is FileSystemEntry => !!entry);
  if (entries.length === 0) return [...transfer.files];
  const files: File[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      files.push(
        await new Promise<File>((resolve, reject) =>
          (entry as FileSystemFileEntry).file(resolve, reject)
        ),
      );
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      // readEntries answers in batches until it answers an empty one.
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
          reader.readEntries(resolve, reject)
        );
        if (batch.length === 0) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const entry of entries) await walk(entry);
  return files;
}

/** A local preview of a picked image; the object URL is released when the row goes. */
function Thumbnail(props: { file: File }) {
  const url = useMemo(() => URL.createObjectURL(props.file), [props.file]);
  const [broken, setBroken] = useState(false);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  // A file the browser cannot draw (not an image, or cut short) gets a plain tile, not a broken icon.
  if (broken) return <span class="thumb thumb-empty" aria-hidden="true" />;
  return (
    <img
      class="thumb"
      src={url}
      alt=""
      width={56}
      height={56}
      onError={() => setBroken(true)}
    />
  );
}

const STATE_LABELS: Record<UploadItem["state"], string> = {
  ready: "Ready",
  uploading: "Uploading",
  confirming: "Checking",
  done: "Stored",
  exists: "Already exists",
  failed: "Refused",
  cancelled: "Cancelled",
};

function UploadRow(props: { item: UploadItem; queue: UploadQueue }) {
  const { item, queue } = props;
  const editable = item.state === "ready" || item.state === "failed" ||
    item.state === "exists" || item.state === "cancelled";
  const percent = item.total ? Math.round((item.sent / item.total) * 100) : 0;
  const eta = item.speed > 0 ? ((item.total - item.sent) / item.speed) * 1000 : NaN;
  const inputId = `upload-name-${item.id}`;
  return (
    <li class={`upload-row state-${item.state}`} data-state={item.state} data-name={item.name}>
      <Thumbnail file={item.file} />
      <div class="upload-main">
        <label for={inputId} class="sr-only">File name (the key) for {item.file.name}</label>
        <input
          id={inputId}
          class="filename-input"
          value={item.name}
          readOnly={!editable}
          spellcheck={false}
          onChange={(e) => queue.rename(item.id, e.currentTarget.value)}
        />
        <div class="upload-meta">
          <span class={`badge badge-${item.state}`}>{STATE_LABELS[item.state]}</span>
          <span>{formatBytes(item.total)}</span>
          {item.path === "direct" && <span class="muted">direct to bucket</span>}
          {item.state === "uploading" && (
            <span class="muted">
              {formatRate(item.speed)} · {Number.isFinite(eta) ? `${formatDuration(eta)} left` : ""}
            </span>
          )}
        </div>
        {(item.state === "uploading" || item.state === "confirming") && (
          <progress
            max={100}
            value={percent}
            aria-label={`Upload progress of ${item.name}`}
          >
            {percent}%
          </progress>
        )}
        {item.message && (
          <p
            class={item.state === "done"
              ? "ok-text"
              : item.state === "exists"
              ? "warn-text"
              : "error"}
            role={item.state === "done" ? "status" : "alert"}
            data-testid="upload-message"
          >
            {item.message}
          </p>
        )}
      </div>
      <div class="upload-actions">
        {item.state === "uploading" && (
          <button type="button" onClick={() => queue.cancel(item.id)}>Cancel</button>
        )}
        {item.state === "exists" && (
          <>
            <button type="button" class="danger" onClick={() => queue.confirmReplace(item.id)}>
              Replace
            </button>
            <button type="button" onClick={() => queue.remove(item.id)}>Skip</button>
          </>
        )}
        {item.suggestedName && item.state === "failed" && (
          <button
            type="button"
            onClick={() => queue.rename(item.id, item.suggestedName!)}
          >
            Rename to {item.suggestedName}
          </button>
        )}
        {(item.state === "failed" || item.state === "cancelled") && (
          <button
            type="button"
            onClick={() => queue.retry(item.id)}
          >
            Retry
          </button>
        )}
        {item.state !== "uploading" && item.state !== "confirming" && item.state !== "exists" && (
          <button
            type="button"
            class="icon"
            aria-label={`Remove ${item.name} from the list`}
            onClick={() => queue.remove(item.id)}
          >
            ×
          </button>
        )}
      </div>
    </li>
  );
}

/** The upload screen; `onStored` refreshes the statistics after each stored file. */
export function UploadView(props: { api: Api; onStored: () => void }) {
  const queue = useMemo(() => new UploadQueue(props.api), [props.api]);
  const [items, setItems] = useState(queue.items);
  const [dragging, setDragging] = useState(false);
  useEffect(() => queue.subscribe(() => setItems(queue.items)), [queue]);
  useEffect(() => void (queue.onStored = props.onStored), [queue, props.onStored]);

  const ready = items.filter((item) => item.state === "ready").length;
  const add = (files: Iterable<File>) => queue.add(files);

  return (
    <section aria-labelledby="upload-title">
      <h2 id="upload-title">Upload images</h2>
      <p class="hint">
        The file name is the key the storefront looks up: name each image after its product id, e.g.
        {" "}
        <code>14000.jpg</code>. Accepted: JPEG, PNG, WebP, GIF, AVIF. Rename a file below before
        uploading it.
      </p>
      <div
        class={`dropzone${dragging ? " dragging" : ""}`}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={async (event) => {
          event.preventDefault();
          setDragging(false);
          if (event.dataTransfer) add(await filesOfDrop(event.dataTransfer));
        }}
      >
        <p>Drop images or folders here, or</p>
        <div class="pickers">
          <input
            id="upload-files"
            class="sr-only"
            type="file"
            multiple
            accept="image/*"
            onChange={(e) => {
              add(e.currentTarget.files ?? []);
              e.currentTarget.value = "";
            }}
          />
          <label class="button" for="upload-files">Choose images</label>
          <input
            id="upload-folder"
            class="sr-only"
            type="file"
            {
              // Not in Preact's input types; the element's boolean property (an empty string is false).
              ...{ webkitdirectory: true }
            }
            onChange={(e) => {
              add(e.currentTarget.files ?? []);
              e.currentTarget.value = "";
            }}
          />
          <label class="button" for="upload-folder">Choose a folder</label>
        </div>
      </div>
      {items.length > 0 && (
        <>
          <div class="toolbar">
            <button
              type="button"
              class="primary"
              disabled={ready === 0}
              onClick={() => queue.start()}
            >
              {ready === 0 ? "Nothing to upload" : `Upload ${ready} file${ready === 1 ? "" : "s"}`}
            </button>
            <button type="button" onClick={() => queue.clearFinished()}>Clear finished</button>
          </div>
          <ul class="upload-list" aria-label="Files to upload">
            {items.map((item) => <UploadRow key={item.id} item={item} queue={queue} />)}
          </ul>
        </>
      )}
    </section>
  );
}
