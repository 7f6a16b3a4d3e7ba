/**
 * The upload queue behind the upload screen: per-file name (the key), progress, speed, cancel,
 * retry and the replace question. Small files go through `upload-to-s3` (multipart); files
 * above `directUploadBytes` take the signed direct path (`POST /direct`, PUT to the bucket,
 * `POST /direct/confirm`), so their bytes never pass through the function.
 *
 * Chosen over Uppy's Dashboard after measuring: Uppy core + dashboard + xhr-upload + aws-s3
 * bundle to 86 KB gzipped of JS (+ 12 KB CSS), while this queue and its screen are a few KB,
 * and the function's answers (409 replace question, each refusal's sentence next to its file)
 * fit it directly.
 *
 * @module
 */
import { IMAGE_EXTENSIONS } from "../../supabase/functions/_shared/images/formats.ts";
import { type Api, ApiError, errorFromBody } from "./api.ts";
import { endpoints } from "./endpoints.ts";
import type { UploadAnswer } from "./types.ts";
import { CANCELLED, sendWithProgress, type XhrHandle } from "./xhr.ts";

/** Where one file stands. `exists`: an image has this name; waiting for replace or skip. */
export type UploadState =
  | "ready"
  | "uploading"
  | "confirming"
  | "done"
  | "exists"
  | "failed"
  | "cancelled";

/** One file of the queue. */
export interface UploadItem {
  id: number;
  file: File;
  /** The key it will be stored under; editable until it is uploaded. */
  name: string;
  state: UploadState;
  /** `function` (multipart) or `direct` (signed PUT). */
  path: "function" | "direct";
  sent: number;
  total: number;
  startedAt: number;
  /** Bytes per second while uploading. */
  speed: number;
  /** What happened, in the function's words. */
  message: string;
  /** The error code of a refusal (`content_mismatch`, …). */
  code?: string;
  /** A name the function suggested (content_mismatch). */
  suggestedName?: string;
  replace: boolean;
  /** The function's answer once stored (key, etag, …). */
  result?: UploadAnswer;
}

/** Options of {@linkcode UploadQueue.add}. */
export interface AddOptions {
  /** The key to store under instead of the file's own name (the embed derives it). */
  name?: string;
  /** Replace an existing image without asking again (the caller already asked). */
  replace?: boolean;
}

/** What {@linkcode describeResult} reads of an answer of either upload path. */
export type UploadResult =
  & Pick<UploadAnswer, "key" | "contentType">
  & Partial<Pick<UploadAnswer, "width" | "height" | "replaced" | "unchanged">>;

/**
 * The content type to declare for a direct upload: the browser's, else the extension's, from the
 * functions' own format table (bundled in: a few hundred bytes), so the two never disagree.
 */
export function declaredType(file: File, name: string): string {
  if (file.type) return file.type;
  const extension = name.split(".").pop()?.toLowerCase() ?? "";
  return IMAGE_EXTENSIONS[extension] ?? "application/octet-stream";
}

/** A success in one line: `Stored as "14000.jpg" (800×600, image/jpeg)`. */
export function describeResult(result: UploadResult): string {
  const dimensions = result.width && result.height ? `${result.width}×${result.height}, ` : "";
  const verb = result.unchanged
    ? "Already stored with identical bytes as"
    : result.replaced
    ? "Replaced"
    : "Stored as";
  return `${verb} "${result.key}" (${dimensions}${result.contentType}).`;
}

/** The queue; screens subscribe to its changes. */
export class UploadQueue {
  #items: UploadItem[] = [];
  #handles = new Map<number, XhrHandle>();
  /** Files cancelled between two requests (no request in flight to abort). */
  #cancelRequested = new Set<number>();
  #listeners = new Set<() => void>();
  #nextId = 1;
  #api: Api;
  /** Uploads at once: enough to fill the line, few enough to keep each one's progress honest. */
  readonly concurrency = 3;
  /** Called after each file lands in the index (the statistics refresh). */
  onStored: () => void = () => {};

  constructor(api: Api) {
    this.#api = api;
  }

  /** The items, newest last. */
  get items(): readonly UploadItem[] {
    return this.#items;
  }

  /** Calls `listener` on every change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed() {
    this.#items = [...this.#items];
    for (const listener of this.#listeners) listener();
  }

  #update(id: number, patch: Partial<UploadItem>) {
    this.#items = this.#items.map((item) => (item.id === id ? { ...item, ...patch } : item));
    this.#changed();
  }

  #get(id: number): UploadItem | undefined {
    return this.#items.find((item) => item.id === id);
  }

  /** Adds files, named by their own file name unless `options.name` says otherwise. */
  add(files: Iterable<File>, options: AddOptions = {}): UploadItem[] {
    const added: UploadItem[] = [];
    const threshold = this.#api.config.directUploadBytes ?? Infinity;
    for (const file of files) {
      this.#items.push({
        id: this.#nextId++,
        file,
        name: options.name ?? file.name,
        state: "ready",
        path: file.size > threshold ? "direct" : "function",
        sent: 0,
        total: file.size,
        startedAt: 0,
        speed: 0,
        message: "",
        replace: options.replace ?? false,
      });
      added.push(this.#items[this.#items.length - 1]);
    }
    this.#changed();
    return added;
  }

  /** Renames a file that is not uploading or stored. */
  rename(id: number, name: string) {
    const item = this.#get(id);
    if (!item || item.state === "uploading" || item.state === "done") return;
    // A new name is a new question: a replace answer was for the old one.
    this.#update(id, {
      name,
      replace: false,
      state: item.state === "exists" ? "ready" : item.state,
    });
  }

  /** Removes a file that is not uploading from the list. */
  remove(id: number) {
    if (this.#get(id)?.state === "uploading") return;
    this.#items = this.#items.filter((item) => item.id !== id);
    this.#changed();
  }

  /** Removes every stored or cancelled file from the list. */
  clearFinished() {
    this.#items = this.#items.filter((item) => item.state !== "done" && item.state !== "cancelled");
    this.#changed();
  }

  /** Starts every ready file, `concurrency` at a time. */
  start() {
    this.#pump();
  }

  /**
   * Stops an upload in flight (or a ready file). Between two requests (the direct path's signing
   * request, or the token lookup) there is nothing to abort yet, so the file stops before its
   * next request and nothing reaches the bucket.
   */
  cancel(id: number) {
    const handle = this.#handles.get(id);
    const state = this.#get(id)?.state;
    if (handle) handle.abort();
    else if (state === "ready") this.#update(id, { state: "cancelled" });
    else if (state === "uploading") this.#cancelRequested.add(id);
  }

  /** Throws the cancel error when the file was cancelled between requests. */
  #stopIfCancelled(id: number) {
    if (this.#cancelRequested.delete(id)) throw new ApiError(0, CANCELLED, "Cancelled.");
  }

  /** Sends a failed or cancelled file again. */
  retry(id: number) {
    this.#update(id, { state: "ready", message: "", code: undefined, sent: 0 });
    this.#pump();
  }

  /** The answer to "an image has this name": replace it. */
  confirmReplace(id: number) {
    this.#update(id, { state: "ready", replace: true, message: "" });
    this.#pump();
  }

  #running(): number {
    return this.#items.filter((i) => i.state === "uploading" || i.state === "confirming").length;
  }

  #pump() {
    for (const item of this.#items) {
      if (this.#running() >= this.concurrency) return;
      if (item.state !== "ready") continue;
      this.#update(item.id, {
        state: "uploading",
        sent: 0,
        startedAt: performance.now(),
        speed: 0,
        message: "",
      });
      this.#send(item.id).finally(() => this.#pump());
    }
  }

  async #send(id: number) {
    const item = this.#get(id)!;
    try {
      const result = item.path === "direct"
        ? await this.#sendDirect(item)
        : await this.#sendThroughFunction(item);
      if (!result) return; // waiting for the replace question
      this.#update(id, {
        state: "done",
        sent: item.total,
        name: result.key,
        message: describeResult(result),
        result,
      });
      this.onStored();
    } catch (caught) {
      const error = caught instanceof ApiError
        ? caught
        : new ApiError(0, "error", `The upload failed: ${String(caught)}`);
      if (error.code === "already_exists") {
        this.#update(id, { state: "exists", message: error.message, code: error.code });
      } else if (error.code === CANCELLED) {
        this.#update(id, { state: "cancelled", message: "Cancelled.", code: CANCELLED });
      } else {
        const suggested = error.details?.suggestedName;
        this.#update(id, {
          state: "failed",
          message: error.message,
          code: error.code,
          suggestedName: typeof suggested === "string" ? suggested : undefined,
        });
      }
    } finally {
      this.#handles.delete(id);
      this.#cancelRequested.delete(id);
    }
  }

  #progress(id: number) {
    return (sent: number, total: number) => {
      const item = this.#get(id);
      if (!item) return;
      const seconds = (performance.now() - item.startedAt) / 1000;
      this.#update(id, { sent, total, speed: seconds > 0 ? sent / seconds : 0 });
    };
  }

  async #headers(): Promise<Record<string, string>> {
    return {
      authorization: `Bearer ${await this.#api.accessToken()}`,
      apikey: this.#api.config.anonKey,
    };
  }

  async #sendThroughFunction(item: UploadItem): Promise<UploadAnswer> {
    const form = new FormData();
    form.append("file", item.file, item.name);
    form.append("filename", item.name);
    if (item.replace) form.append("replace", "true");
    const headers = await this.#headers();
    this.#stopIfCancelled(item.id);
    const upload = endpoints.upload();
    const handle = sendWithProgress({
      method: upload.method,
      url: this.#api.functionUrl(upload.path),
      headers,
      body: form,
      onProgress: this.#progress(item.id),
    });
    this.#handles.set(item.id, handle);
    const { status, body } = await handle.answer;
    if (status === 200 || status === 201) return body as UploadAnswer;
    throw errorFromBody(status, body);
  }

  async #sendDirect(item: UploadItem): Promise<UploadAnswer | undefined> {
    const contentType = declaredType(item.file, item.name);
    const { data: signed } = await this.#api.call(
      endpoints.prepareDirect({ filename: item.name, contentType, size: item.file.size }),
    );
    if (signed.exists && !item.replace) {
      // Ask before sending megabytes, not after.
      this.#update(item.id, {
        state: "exists",
        code: "already_exists",
        message: `An image named "${item.name}" is already stored. Replace it?`,
      });
      return undefined;
    }
    this.#stopIfCancelled(item.id);
    const handle = sendWithProgress({
      method: signed.method,
      url: signed.uploadUrl,
      headers: signed.headers,
      body: item.file,
      onProgress: this.#progress(item.id),
    });
    this.#handles.set(item.id, handle);
    const put = await handle.answer;
    this.#handles.delete(item.id);
    if (put.status < 200 || put.status >= 300) {
      throw new ApiError(
        put.status,
        "storage_refused",
        `The bucket refused the upload (HTTP ${put.status}); retry, and tell an admin if it persists.`,
      );
    }
    // Cancelled during the PUT's last moments: the staged copy is never published (the bucket's
    // lifecycle rule expires `_incoming/`).
    this.#stopIfCancelled(item.id);
    this.#update(item.id, { state: "confirming", sent: item.total });
    const { data } = await this.#api.call(
      endpoints.confirmDirect({ stagingKey: signed.stagingKey, replace: item.replace }),
    );
    return data;
  }
}
