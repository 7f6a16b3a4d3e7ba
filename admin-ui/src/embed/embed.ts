/**
 * The embeddable components, one ES module (`admin-ui/dist/embed.js`): importing it defines
 * `<s3-product-image>` and `<s3-image-cache-panel>` (docs/embed.md).
 *
 * @module
 */
import { h } from "preact";
import { COMMON_ATTRIBUTES, EmbedElement } from "./element.ts";
import { CachePanel } from "./CachePanel.tsx";
import { ProductImage, type ProductImageChange } from "./ProductImage.tsx";
import { DEFAULT_RULE, type KeyRule } from "./product_key.ts";

export type { ProductImageChange };

/**
 * `<s3-product-image product-id="14000">`: the product's image, upload and replace.
 * Attributes: `product-id`, `key-prefix`, `key-extension`, plus the common ones. Fires `change`
 * (`detail`: {@linkcode ProductImageChange}) once per stored image.
 */
export class S3ProductImage extends EmbedElement {
  static observedAttributes = [...COMMON_ATTRIBUTES, "product-id", "key-prefix", "key-extension"];

  /** The product whose image this is. */
  get productId(): string {
    return this.getAttribute("product-id") ?? "";
  }
  set productId(value: string) {
    this.setAttribute("product-id", value);
  }

  /** How the key is made from the product id. */
  get keyRule(): KeyRule {
    const extension = this.getAttribute("key-extension")?.replace(/^\./, "").toLowerCase();
    return {
      prefix: this.getAttribute("key-prefix") ?? DEFAULT_RULE.prefix,
      extension: extension || null,
    };
  }

  protected view() {
    const api = this.api();
    if (!api || !this.productId) return null;
    return h(ProductImage, {
      api,
      productId: this.productId,
      rule: this.keyRule,
      messages: this.messages,
      onChange: (detail: ProductImageChange) =>
        this.dispatchEvent(new CustomEvent("change", { detail, bubbles: true, composed: true })),
    });
  }
}

/** `<s3-image-cache-panel>`: statistics, quick add and rebuild for staff. */
export class S3ImageCachePanel extends EmbedElement {
  static observedAttributes = COMMON_ATTRIBUTES;

  protected view() {
    const api = this.api();
    return api ? h(CachePanel, { api, messages: this.messages }) : null;
  }
}

// Defining twice throws; a page may load the module from two places.
if (!customElements.get("s3-product-image")) {
  customElements.define("s3-product-image", S3ProductImage);
}
if (!customElements.get("s3-image-cache-panel")) {
  customElements.define("s3-image-cache-panel", S3ImageCachePanel);
}
