/**
 * Every sentence the components show on their own (the functions' refusals are shown as they
 * come). A host replaces any of them with the `messages` property or attribute (JSON), e.g. to
 * translate: `el.messages = { upload: "Bild hochladen" }`. `{id}` stands for the product id.
 *
 * @module
 */

/** The texts of `<s3-product-image>` and `<s3-image-cache-panel>`. */
export const DEFAULT_MESSAGES = {
  upload: "Upload image",
  replace: "Replace image",
  cancel: "Cancel",
  loading: "Loading the image…",
  none: "No image yet",
  alt: "Image of product {id}",
  uploading: "Uploading the image of product {id}",
  stored: "Image stored as {key}.",
  confirmTitle: "Replace the image of product {id}?",
  confirmBody: "The current image ({key}) will be overwritten for every visitor.",
  confirmButton: "Replace",
  signedOut: "Sign in as a manager or admin to change product images.",
  noRole: "Your account may not change product images: ask an admin for the manager role.",
  panelTitle: "S3 Image Cache Management",
  panelNoRole: "Only managers and admins can see the image cache: ask an admin for a role.",
};

/** The message names. */
export type Messages = typeof DEFAULT_MESSAGES;

/** The defaults with the host's overrides (unknown names and non-strings ignored). */
export function mergeMessages(overrides: unknown): Messages {
  const merged = { ...DEFAULT_MESSAGES };
  if (overrides && typeof overrides === "object") {
    for (const [name, value] of Object.entries(overrides)) {
      if (name in merged && typeof value === "string") merged[name as keyof Messages] = value;
    }
  }
  return merged;
}

/** `template` with `{name}` replaced by `values[name]` (plain text: rendered as text anyway). */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name) => values[name] ?? whole);
}
