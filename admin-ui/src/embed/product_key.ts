/**
 * The key a product's image is stored under, derived from the product id so nobody types file
 * names: `14000` → `14000.jpg`. The extension follows the image's real format: the browser's
 * type is the first guess, and when the bytes say otherwise `upload-to-s3` answers 415
 * `content_mismatch` with the name it would accept (`suggestedName`), which the component sends
 * again once — the function's sniffer stays the only one. A fixed extension turns that retry off
 * (a PNG sent for `14000.jpg` is then refused, in the function's words).
 *
 * @module
 */
import { IMAGE_EXTENSIONS } from "../../../supabase/functions/_shared/images/formats.ts";
import type { IndexEntry } from "../types.ts";

/** How keys are made: `<prefix><product id>.<extension>`. */
export interface KeyRule {
  /** Put before the product id, e.g. `shop1-`; default none. */
  prefix: string;
  /** Always this extension (`jpg`), or null: the image's own format decides. */
  extension: string | null;
}

/** The rule when the element sets none. */
export const DEFAULT_RULE: KeyRule = { prefix: "", extension: null };

/** The extension a file's browser-declared type implies, `jpg` when it implies none. */
export function extensionForType(type: string): string {
  for (const [extension, contentType] of Object.entries(IMAGE_EXTENSIONS)) {
    // `jpg` comes before `jpeg` in the table: the short spelling, as the function suggests.
    if (contentType === type) return extension;
  }
  // Not an image type we take (SVG, HTML, …): send it anyway under an image name, so the
  // function looks at the bytes and refuses them in its own words.
  return "jpg";
}

/** The key for `productId` under `rule`, for a file the browser calls `type`. */
export function productKey(productId: string, rule: KeyRule, type: string): string {
  return `${rule.prefix}${productId}.${rule.extension ?? extensionForType(type)}`;
}

/** The prefix every key of `productId` starts with (for the index listing). */
export function productKeyPrefix(productId: string, rule: KeyRule): string {
  return `${rule.prefix}${productId}.`;
}

/**
 * The product's current image among index entries found by its prefix: exactly
 * `<prefix><id>.<image extension>` (not `14000.old.jpg`), the fixed extension when the rule has
 * one, else the most recently written.
 */
export function currentImage<T extends IndexEntry>(
  entries: readonly T[],
  productId: string,
  rule: KeyRule,
): T | null {
  const stem = productKeyPrefix(productId, rule);
  const mine = entries.filter((entry) => {
    if (!entry.filename.startsWith(stem)) return false;
    const extension = entry.filename.slice(stem.length);
    return rule.extension ? extension === rule.extension : extension in IMAGE_EXTENSIONS;
  });
  mine.sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at));
  return mine[0] ?? null;
}
