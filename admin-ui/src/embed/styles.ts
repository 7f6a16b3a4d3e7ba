/**
 * The components' stylesheet, inside each shadow root. It starts with the admin UI's own
 * `app.css` (same buttons, cards, figures and progress; `scripts/build_ui.ts` inlines it with
 * `:root` turned into `:host` and every colour readable from a `--s3ic-*` custom property), then
 * the few rules only the embed has. Hosts theme with those properties and `::part()`.
 *
 * @module
 */

/** Set by the build (esbuild `define`); absent when a unit test imports this module. */
declare const __S3IC_ADMIN_CSS__: string;

const ADMIN_CSS = typeof __S3IC_ADMIN_CSS__ === "string" ? __S3IC_ADMIN_CSS__ : "";

const EMBED_ONLY_CSS = `
:host { display: block; background: transparent; }
:host([hidden]) { display: none; }
.product-image { display: flex; gap: 12px; align-items: flex-start; }
.frame {
  width: var(--s3ic-image-size, 96px); height: var(--s3ic-image-size, 96px); flex: none;
  border: 1px solid var(--line); border-radius: var(--radius); background: var(--card);
  display: flex; align-items: center; justify-content: center; overflow: hidden;
}
.frame img { max-width: 100%; max-height: 100%; object-fit: contain; display: block; }
.placeholder { color: var(--muted); font-size: 0.8rem; text-align: center; padding: 4px; }
.controls { display: flex; flex-direction: column; gap: 6px; min-width: 0; }
.controls p { margin: 0; }
.controls progress { width: 160px; }
.key { font-family: ui-monospace, monospace; font-size: 0.85rem; overflow-wrap: anywhere; }
.panel > h2 { margin-top: 0; }
.panel .card { margin-bottom: 12px; }
`;

/** The whole stylesheet of a shadow root. */
export const EMBED_CSS = ADMIN_CSS + EMBED_ONLY_CSS;
