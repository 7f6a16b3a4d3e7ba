/**
 * Every function path the app calls, in one place, each with the answer the function gives
 * (types from the functions' own contract, `supabase/functions/_shared/contract.ts`). Screens
 * pass these to `Api.call` and never spell a path themselves.
 *
 * @module
 */
import type {
  AddFileAnswer,
  DirectConfirmBody,
  DirectUploadBody,
  DirectUploadTicket,
  FilePage,
  FilesQuery,
  JobStatusAnswer,
  LatestJobAnswer,
  RebuildStartAnswer,
  ReconcileAnswer,
  RemoveFileAnswer,
  StatsAnswer,
  UploadAnswer,
} from "./types.ts";

/** One call: path under `…/functions/v1/`, method and JSON body; `Answer` is its 2xx body. */
export interface Endpoint<Answer> {
  readonly path: string;
  readonly method: "GET" | "POST" | "DELETE";
  readonly body?: Record<string, unknown>;
  /** Never set: it only carries the answer's type to `Api.call`. */
  readonly answer?: Answer;
}

const SERVICE = "s3-image-service";
const UPLOAD = "upload-to-s3";

const get = <T>(path: string): Endpoint<T> => ({ path, method: "GET" });
const post = <T>(path: string, body?: object): Endpoint<T> => ({
  path,
  method: "POST",
  body: body as Record<string, unknown> | undefined,
});

/** Where function paths start in a URL. */
const FUNCTIONS_PREFIX = "/functions/v1/";

/**
 * The endpoint a job's `statusUrl` names. Only its path is kept: the call goes to the project the
 * app is configured for, so the session's token never travels to another host, and a function
 * that knows itself by an internal URL (self-hosting behind a gateway) still points the right way.
 *
 * @throws Error when the URL does not lead to a function.
 */
export function statusEndpoint<T>(statusUrl: string): Endpoint<T> {
  const { pathname, search } = new URL(statusUrl, "http://relative.invalid");
  const start = pathname.indexOf(FUNCTIONS_PREFIX);
  if (start < 0) {
    throw new Error(`The server gave a status URL outside its functions: ${statusUrl}`);
  }
  return get<T>(pathname.slice(start + FUNCTIONS_PREFIX.length) + search);
}

/** The function paths, by what they do. */
export const endpoints = {
  stats: () => get<StatsAnswer>(`${SERVICE}/stats`),
  /** The latest job of either mode. */
  latestJob: () => get<LatestJobAnswer>(`${SERVICE}/rebuild`),
  /** One job of either mode: the status route every job has. */
  job: (id: number) => get<JobStatusAnswer>(`${SERVICE}/rebuild/${id}`),
  startRebuild: (force: boolean) =>
    post<RebuildStartAnswer>(`${SERVICE}/rebuild`, force ? { force: true } : {}),
  /** Stops a running job of either mode. */
  cancelJob: (id: number) => post<JobStatusAnswer>(`${SERVICE}/rebuild/${id}/cancel`),
  startReconcile: () => post<ReconcileAnswer>(`${SERVICE}/reconcile`, {}),
  /** A reconcile with its report while it waits for review. */
  reconcile: (id: number) => get<ReconcileAnswer>(`${SERVICE}/reconcile/${id}`),
  applyReconcile: (id: number, force: boolean) =>
    post<ReconcileAnswer>(`${SERVICE}/reconcile/${id}/apply`, force ? { force: true } : {}),
  files: (query: FilesQuery) => {
    const params = new URLSearchParams({ prefix: query.prefix ?? "" });
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.cursor) params.set("cursor", query.cursor);
    return get<FilePage>(`${SERVICE}/files?${params}`);
  },
  addFile: (filename: string) => post<AddFileAnswer>(`${SERVICE}/files`, { filename }),
  removeFile: (filename: string, deleteObject: boolean): Endpoint<RemoveFileAnswer> => ({
    path: `${SERVICE}/files/${encodeURIComponent(filename)}${
      deleteObject ? "?deleteObject=true" : ""
    }`,
    method: "DELETE",
  }),
  /** The multipart upload (sent with XMLHttpRequest for progress; see upload_queue.ts). */
  upload: () => post<UploadAnswer>(UPLOAD),
  prepareDirect: (body: DirectUploadBody) => post<DirectUploadTicket>(`${UPLOAD}/direct`, body),
  confirmDirect: (body: DirectConfirmBody) => post<UploadAnswer>(`${UPLOAD}/direct/confirm`, body),
};
