/**
 * Builds a value on first use and keeps it, or keeps the error building it threw: a function's
 * composition root builds its services this way, once per isolate, yet a bad setting is still
 * answered per request as a clear 500 (and logged once) instead of crashing the worker at start.
 *
 * @module
 */

/**
 * `build` run at most once; every call returns its value or throws its error.
 *
 * @example
 * ```ts
 * const services = once(() => buildServices(parseConfig(Deno.env.toObject())));
 * services(); // built now
 * services(); // the same object
 * ```
 */
export function once<T>(build: () => T): () => T {
  let built: { value: T } | { error: unknown } | undefined;
  return () => {
    if (!built) {
      try {
        built = { value: build() };
      } catch (error) {
        console.error((error as Error)?.message ?? error);
        built = { error };
      }
    }
    if ("error" in built) throw built.error;
    return built.value;
  };
}
