/**
 * The URL an image is shown at, with a version so a replaced image never comes from a cache.
 *
 * @module
 */

/** The etag as a URL-safe version: quotes dropped (`"9b2c…"` → `9b2c…`). */
export function versionOf(etag: string | null | undefined): string {
  return (etag ?? "").replace(/"/g, "");
}

/**
 * `url` with `v=<etag>` added, so the URL changes exactly when the bytes do (the function stores
 * images with a public `Cache-Control`, and CDNs key on the URL). A presigned URL is left alone:
 * S3 signs every query parameter, so adding one would break it. A signed URL changes with its
 * signing second instead (`X-Amz-Date`): see {@linkcode needsNewSignature}.
 */
export function versionedUrl(url: string, etag: string | null | undefined): string {
  const version = versionOf(etag);
  if (!version) return url;
  const parsed = new URL(url);
  if (parsed.searchParams.has("X-Amz-Signature")) return url;
  parsed.searchParams.set("v", version);
  return parsed.toString();
}

/**
 * Whether `fresh` is the very URL `shown` was: a presigned URL made in the same second as the
 * one on screen is byte for byte the same, so the browser would show its cached copy of the old
 * image. The component then lists again once that second is over, which signs a new URL.
 */
export function needsNewSignature(shown: string | null, fresh: string): boolean {
  return shown === fresh && new URL(fresh).searchParams.has("X-Amz-Signature");
}
