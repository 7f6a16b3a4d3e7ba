/**
 * When a SigV4 presigned URL stops working: `X-Amz-Date` (signing time, `YYYYMMDDTHHMMSSZ`)
 * plus `X-Amz-Expires` seconds. A public URL (CDN) has neither: it does not expire.
 *
 * @module
 */

/** The expiry of `url`, or null when it carries no signature (never expires). */
export function signedUrlExpiry(url: string): Date | null {
  let params: URLSearchParams;
  try {
    params = new URL(url).searchParams;
  } catch {
    return null;
  }
  const signed = params.get("X-Amz-Date");
  const seconds = Number(params.get("X-Amz-Expires"));
  const match = signed && /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(signed);
  if (!match || !Number.isFinite(seconds)) return null;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s) + seconds * 1000);
}
