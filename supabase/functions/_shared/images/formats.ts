/**
 * The one table of image formats: for each format we accept, the Content-Type it is stored
 * with, its display name and the extensions a name may carry. Name rules, sniffing, upload
 * settings and error messages all read it; SQL's `s3_cache_content_type_for()` is held to it by
 * a test (tests/integration/filename_rules_test.ts).
 *
 * @module
 */

/** The image formats we accept. */
export type ImageFormat = "jpeg" | "png" | "webp" | "gif" | "avif";

/** One format: how it is stored, named and spelled. */
export interface FormatInfo {
  contentType: string;
  label: string;
  /** The extension we suggest for it ("rename it to x.jpg"). */
  extension: string;
  /** Every extension (lower case) a name of this format may end in. */
  extensions: readonly string[];
}

/** Per format: its Content-Type, display name and extensions. */
export const FORMAT_INFO: Readonly<Record<ImageFormat, FormatInfo>> = {
  jpeg: { contentType: "image/jpeg", label: "JPEG", extension: "jpg", extensions: ["jpg", "jpeg"] },
  png: { contentType: "image/png", label: "PNG", extension: "png", extensions: ["png"] },
  webp: { contentType: "image/webp", label: "WebP", extension: "webp", extensions: ["webp"] },
  gif: { contentType: "image/gif", label: "GIF", extension: "gif", extensions: ["gif"] },
  avif: { contentType: "image/avif", label: "AVIF", extension: "avif", extensions: ["avif"] },
};

/** Every accepted format, in the order error messages list them. */
export const IMAGE_FORMATS: readonly ImageFormat[] = ["jpeg", "png", "webp", "gif", "avif"];

/** Image extensions we accept, lower case, and the content type each implies. */
export const IMAGE_EXTENSIONS: Readonly<Record<string, string>> = Object.fromEntries(
  IMAGE_FORMATS.flatMap((format) =>
    FORMAT_INFO[format].extensions.map((extension) => [extension, FORMAT_INFO[format].contentType])
  ),
);

/** The format whose Content-Type is `contentType`, or undefined. */
export function formatOfContentType(contentType: string): ImageFormat | undefined {
  return IMAGE_FORMATS.find((format) => FORMAT_INFO[format].contentType === contentType);
}
