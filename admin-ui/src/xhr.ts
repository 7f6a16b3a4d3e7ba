/**
 * One HTTP request with upload progress and cancel — what fetch cannot do yet.
 *
 * @module
 */
import { ApiError } from "./api.ts";

/** What {@linkcode sendWithProgress} sends. */
export interface XhrRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body: XMLHttpRequestBodyInit;
  /** Called with bytes sent so far and the total. */
  onProgress?: (sent: number, total: number) => void;
}

/** The answer: status and the body parsed as JSON (undefined when it is not JSON). */
export interface XhrAnswer {
  status: number;
  body: unknown;
}

/** A request in flight: its answer, and a way to stop it. */
export interface XhrHandle {
  answer: Promise<XhrAnswer>;
  abort(): void;
}

/** The ApiError a cancelled request rejects with. */
export const CANCELLED = "cancelled";

/** Sends `request`; the answer rejects with ApiError `network_error` or `cancelled`. */
export function sendWithProgress(request: XhrRequest): XhrHandle {
  const xhr = new XMLHttpRequest();
  const answer = new Promise<XhrAnswer>((resolve, reject) => {
    xhr.open(request.method, request.url);
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) request.onProgress?.(event.loaded, event.total);
    };
    xhr.onload = () => {
      let body: unknown;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        body = undefined;
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () =>
      reject(
        new ApiError(
          0,
          "network_error",
          "The upload could not reach the server: check your connection and retry.",
        ),
      );
    xhr.onabort = () => reject(new ApiError(0, CANCELLED, "Cancelled."));
    xhr.send(request.body);
  });
  return { answer, abort: () => xhr.abort() };
}
