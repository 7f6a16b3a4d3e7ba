/** @jsxImportSource preact */
/**
 * The preview pane of one index entry: the image, its details, the signed URL to copy with its
 * expiry, and (admins) remove.
 *
 * @module
 */
import { useState } from "preact/hooks";
import { formatBytes, formatDate } from "../format.ts";
import { signedUrlExpiry } from "../signed_url.ts";
import type { ListedFile } from "../types.ts";

/** The preview of one entry, with its URL and, for admins, remove. */
export function Preview(props: {
  file: ListedFile;
  isAdmin: boolean;
  onRemove: (file: ListedFile) => void;
  onClose: () => void;
}) {
  const { file } = props;
  const [copied, setCopied] = useState("");
  const expiry = file.url ? signedUrlExpiry(file.url) : null;
  return (
    <aside class="card preview" aria-labelledby="preview-title">
      <div class="section-head">
        <h3 id="preview-title" class="filename">{file.filename}</h3>
        <button type="button" class="icon" aria-label="Close the preview" onClick={props.onClose}>
          ×
        </button>
      </div>
      {file.url && <img class="preview-image" src={file.url} alt={`Preview of ${file.filename}`} />}
      <dl class="details">
        <dt>Size</dt>
        <dd>{formatBytes(file.size_bytes)}</dd>
        <dt>Type</dt>
        <dd>{file.content_type ?? "—"}</dd>
        <dt>Dimensions</dt>
        <dd>{file.width && file.height ? `${file.width} × ${file.height}` : "—"}</dd>
        <dt>Last modified</dt>
        <dd>{formatDate(file.last_modified)}</dd>
        <dt>Indexed</dt>
        <dd>{formatDate(file.updated_at)}</dd>
      </dl>
      {file.url && (
        <div class="url-copy">
          <label for="preview-url">Image URL</label>
          <div class="inline-form">
            <input
              id="preview-url"
              readOnly
              value={file.url}
              onFocus={(e) => e.currentTarget.select()}
            />
            <button
              type="button"
              onClick={async () => {
                try {
                  await navigator.clipboard.writeText(file.url!);
                  setCopied("Copied.");
                } catch {
                  setCopied("Copy refused by the browser: select the URL and copy it by hand.");
                }
              }}
            >
              Copy
            </button>
          </div>
          <p class="hint" role="status">
            {copied ||
              (expiry
                ? `Signed link: works until ${expiry.toLocaleTimeString()} (${
                  Math.max(0, Math.round((expiry.getTime() - Date.now()) / 60000))
                } min).`
                : "Public link: does not expire.")}
          </p>
        </div>
      )}
      {props.isAdmin && (
        <button type="button" class="danger" onClick={() => props.onRemove(file)}>
          Remove from index…
        </button>
      )}
    </aside>
  );
}
