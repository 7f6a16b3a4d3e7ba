/**
 * The one way the app talks to Supabase: `supabase.auth` for the session and
 * `supabase.functions.invoke` for both functions. Uploads with progress use XMLHttpRequest to
 * the same function URL with the session's token (fetch cannot report upload progress).
 * Every failure becomes an {@linkcode ApiError} whose message is the function's own sentence.
 *
 * @module
 */
import {
  createClient,
  FunctionsFetchError,
  FunctionsHttpError,
  type SupabaseClient,
} from "@supabase/supabase-js";
import type { ErrorBody } from "./types.ts";
import type { UiConfig } from "./config.ts";
import type { Endpoint } from "./endpoints.ts";

/** A refused or failed call: the HTTP status (0 when the server was not reached), code, text. */
export class ApiError extends Error {
  /** HTTP status; 0 for a network failure. */
  readonly status: number;
  /** The function's error code (`already_exists`, `forbidden`, …) or `network_error`. */
  readonly code: string;
  /** The function's `details`, when it sent any. */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** A successful answer: its status (200, 201, 202) and JSON body. */
export interface ApiAnswer<T> {
  status: number;
  data: T;
}

/** Turns an error body (`{error:{code,message}}`) or anything else into an ApiError. */
export function errorFromBody(status: number, body: unknown): ApiError {
  // Shaped as the contract says, yet each field is checked: a proxy may answer anything.
  const error = (body as Partial<ErrorBody> | undefined)?.error;
  if (error && typeof error.message === "string") {
    return new ApiError(
      status,
      typeof error.code === "string" ? error.code : "error",
      error.message,
      error.details as Record<string, unknown> | undefined,
    );
  }
  return new ApiError(status, "http_error", `The server answered ${status} with no explanation.`);
}

/** Reads a JSON body, or undefined when there is none or it is not JSON. */
async function jsonOf(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    return undefined;
  }
}

/** The client side of both functions. */
export interface Api {
  supabase: SupabaseClient;
  config: UiConfig;
  /** `call(endpoints.stats())`; throws {@linkcode ApiError}. */
  call<T>(endpoint: Endpoint<T>): Promise<ApiAnswer<T>>;
  /** The current access token, or throws 401 when signed out. */
  accessToken(): Promise<string>;
  /** `${supabaseUrl}/functions/v1/${path}`. */
  functionUrl(path: string): string;
}

/** Creates the Supabase client and the call helpers for `config`. */
export function createApi(config: UiConfig): Api {
  const supabase = createClient(config.supabaseUrl, config.anonKey, {
    auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: false },
  });
  return apiOverClient(supabase, config);
}

/**
 * The call helpers over an existing client: the admin UI's own, or a host app's (the embedded
 * components), so the signed-in session is the host's and nobody signs in twice. `config` names
 * the same project the client talks to (uploads use XMLHttpRequest to its function URL).
 */
export function apiOverClient(supabase: SupabaseClient, config: UiConfig): Api {
  return {
    supabase,
    config,
    functionUrl: (path) => `${config.supabaseUrl}/functions/v1/${path}`,
    async accessToken() {
      const { data } = await supabase.auth.getSession();
      const token = data.session?.access_token;
      if (!token) throw new ApiError(401, "unauthorized", "You are signed out: sign in again.");
      return token;
    },
    async call<T>(endpoint: Endpoint<T>): Promise<ApiAnswer<T>> {
      const { data, error, response } = await supabase.functions.invoke(endpoint.path, {
        method: endpoint.method,
        body: endpoint.body,
      });
      if (error) {
        if (error instanceof FunctionsHttpError) {
          const failed = error.context as Response;
          throw errorFromBody(failed.status, await jsonOf(failed));
        }
        if (error instanceof FunctionsFetchError) {
          throw new ApiError(
            0,
            "network_error",
            "The server could not be reached: check your connection and try again.",
          );
        }
        throw new ApiError(0, "network_error", `The request failed: ${String(error.message)}`);
      }
      return { status: response?.status ?? 200, data: data as T };
    },
  };
}
