/** @jsxImportSource preact */
/**
 * The view of `<s3-product-image>`: the product's current image from the index (or a placeholder
 * that says there is none), "Upload image" / "Replace image" (asking before replacing), progress
 * and cancel, and each refusal in the function's words. The upload itself is the admin UI's
 * queue; the listing and the session are the admin UI's too.
 *
 * @module
 */
import { useEffect, useId, useMemo, useRef, useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { ConfirmDialog, ErrorNote } from "../components/common.tsx";
import { endpoints } from "../endpoints.ts";
import { may, useSession } from "../session.ts";
import type { ListedFile } from "../types.ts";
import { type UploadItem, UploadQueue } from "../upload_queue.ts";
import { needsNewSignature, versionedUrl } from "./image_url.ts";
import { fill, type Messages } from "./messages.ts";
import { currentImage, type KeyRule, productKey, productKeyPrefix } from "./product_key.ts";

/** What the `change` event carries. */
export interface ProductImageChange {
  productId: string;
  key: string;
  url: string;
  etag: string;
}

/** Props of {@linkcode ProductImage}. */
export interface ProductImageProps {
  api: Api;
  productId: string;
  rule: KeyRule;
  messages: Messages;
  /** Called once per stored image, after the new image is shown. */
  onChange: (change: ProductImageChange) => void;
}

type Shown = { status: "loading" } | { status: "none" } | { status: "image"; file: ListedFile };

/** The product image, its actions and their outcome. */
export function ProductImage(props: ProductImageProps) {
  const { api, productId, rule, messages: m } = props;
  const session = useSession(api);
  const queue = useMemo(() => new UploadQueue(api), [api]);
  const [item, setItem] = useState<UploadItem | null>(null);
  const [shown, setShown] = useState<Shown>({ status: "loading" });
  const [listError, setListError] = useState<unknown>(null);
  // The file waiting for "Replace?", and whether the user already said yes for this upload.
  const [pending, setPending] = useState<File | null>(null);
  const confirmed = useRef(false);
  const retriedName = useRef(false);
  const reported = useRef(new Set<number>());
  const input = useRef<HTMLInputElement>(null);
  const ids = { id: productId };
  const signedIn = session.status === "signedIn";
  const canUpload = signedIn && may(session.role, "staff");

  // The URL on screen, to tell a freshly signed URL from the same one signed in the same second.
  const shownUrl = useRef<string | null>(null);

  async function load(): Promise<ListedFile | null> {
    const list = async () => {
      const { data } = await api.call(
        endpoints.files({ prefix: productKeyPrefix(productId, rule), limit: 50 }),
      );
      return currentImage(data.files, productId, rule);
    };
    let file = await list();
    if (file && needsNewSignature(shownUrl.current, file.url)) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      file = await list();
    }
    shownUrl.current = file?.url ?? null;
    setShown(file ? { status: "image", file } : { status: "none" });
    setListError(null);
    return file;
  }

  useEffect(() => {
    // Signed out (or no role): the listing is staff-only, and what a previous session saw goes.
    setShown({ status: "loading" });
    if (!canUpload) return;
    load().catch(setListError);
  }, [api, productId, rule.prefix, rule.extension, canUpload]);

  // The queue outlives renders; it must reach this render's props and state, not the first's.
  const following = useRef(follow);
  following.current = follow;
  useEffect(() => queue.subscribe(() => following.current(queue)), [queue]);

  /** Reacts to the queue: the function's mismatch answer, the 409 question, the stored image. */
  function follow(from: UploadQueue) {
    const latest = from.items[from.items.length - 1] ?? null;
    setItem(latest);
    if (!latest) return;
    if (
      latest.state === "failed" && latest.code === "content_mismatch" && latest.suggestedName &&
      !rule.extension && !retriedName.current
    ) {
      // The bytes are another format than the browser said: the function names the key it
      // takes (`14000.png`), which is still derived from the product id.
      retriedName.current = true;
      from.rename(latest.id, latest.suggestedName);
      from.retry(latest.id);
    } else if (latest.state === "exists") {
      if (confirmed.current) from.confirmReplace(latest.id);
      else setPending(latest.file);
    } else if (latest.state === "done" && latest.result && !reported.current.has(latest.id)) {
      reported.current.add(latest.id);
      const { key, etag } = latest.result;
      load().then((file) => {
        const url = file && file.filename === key ? versionedUrl(file.url, etag) : "";
        props.onChange({ productId, key, url, etag });
      }, setListError);
    }
  }

  function start(file: File, replace: boolean) {
    for (const old of queue.items) queue.remove(old.id);
    confirmed.current = replace;
    retriedName.current = false;
    queue.add([file], { name: productKey(productId, rule, file.type), replace });
    queue.start();
  }

  function picked(event: Event) {
    const target = event.currentTarget as HTMLInputElement;
    const file = target.files?.[0];
    target.value = "";
    if (!file) return;
    if (shown.status === "image") setPending(file);
    else start(file, false);
  }

  function confirmReplace() {
    const file = pending;
    setPending(null);
    if (!file) return;
    if (item?.state === "exists" && item.file === file) {
      confirmed.current = true;
      queue.confirmReplace(item.id);
    } else {
      start(file, true);
    }
  }

  const busy = item?.state === "uploading" || item?.state === "confirming";
  const image = shown.status === "image" ? shown.file : null;
  const src = image ? versionedUrl(image.url, image.etag) : "";
  const label = image ? m.replace : m.upload;
  // Not derived from the product id: an id is free text and may hold spaces or markup.
  const statusId = useId();

  return (
    <div class="product-image" part="container" data-state={item?.state ?? "idle"}>
      <div class="frame" part="frame">
        {image
          ? (
            <img
              part="image"
              src={src}
              alt={fill(m.alt, ids)}
              data-key={image.filename}
              data-etag={image.etag ?? ""}
            />
          )
          : (
            <span class="placeholder" part="placeholder" role="img" aria-label={fill(m.alt, ids)}>
              {shown.status === "none" ? m.none : canUpload ? m.loading : ""}
            </span>
          )}
      </div>
      <div class="controls">
        {image && <span class="key" part="key">{image.filename}</span>}
        {!signedIn && session.status !== "loading" && <p class="muted">{m.signedOut}</p>}
        {signedIn && !canUpload && <p class="muted">{m.noRole}</p>}
        {canUpload && (
          <div class="actions">
            <input
              ref={input}
              type="file"
              accept="image/jpeg,image/png,image/webp,image/gif,image/avif"
              hidden
              onChange={picked}
            />
            <button
              type="button"
              part="button"
              class="primary"
              disabled={busy}
              aria-describedby={statusId}
              onClick={() => input.current?.click()}
            >
              {label}
            </button>{" "}
            {busy && (
              <button
                type="button"
                part="cancel"
                onClick={() => item && queue.cancel(item.id)}
              >
                {m.cancel}
              </button>
            )}
          </div>
        )}
        <div id={statusId} aria-live="polite">
          {busy && item && (
            <progress
              part="progress"
              value={item.sent}
              max={item.total || 1}
              aria-label={fill(m.uploading, ids)}
            />
          )}
          {item?.state === "done" && item.result && (
            <p class="ok-text" part="message" role="status">
              {fill(m.stored, { ...ids, key: item.result.key })}
            </p>
          )}
        </div>
        {(item?.state === "failed" || item?.state === "cancelled") && (
          <p class="error" part="error" role="alert" data-code={item.code}>{item.message}</p>
        )}
        <ErrorNote error={listError} />
      </div>
      <ConfirmDialog
        open={pending !== null}
        title={fill(m.confirmTitle, ids)}
        confirmLabel={m.confirmButton}
        danger
        onConfirm={confirmReplace}
        onCancel={() => setPending(null)}
      >
        <p>{fill(m.confirmBody, { ...ids, key: image?.filename ?? item?.name ?? "" })}</p>
      </ConfirmDialog>
    </div>
  );
}
