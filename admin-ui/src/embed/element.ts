/**
 * What both custom elements share: an open shadow root with the components' own stylesheet
 * (nothing of the page's CSS reaches in, nothing of ours leaks out), the connection settings as
 * attributes and properties, the message map, and rendering a Preact view into the root. Preact
 * is inside the bundle: the host sees plain elements, whatever framework it runs.
 *
 * @module
 */
import { type ComponentChild, render } from "preact";
import type { SupabaseClient } from "@supabase/supabase-js";
import type { Api } from "../api.ts";
import { connect } from "./connection.ts";
import { mergeMessages, type Messages } from "./messages.ts";
import { EMBED_CSS } from "./styles.ts";

/** Attributes every element observes. */
export const COMMON_ATTRIBUTES = ["supabase-url", "publishable-key", "messages"];

// `HTMLElement` exists only in a browser; the unit tier imports modules that import this one.
const Base = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

/** A custom element that renders `view()` into its open shadow root. */
export abstract class EmbedElement extends Base {
  #client: SupabaseClient | null = null;
  #messages: unknown = null;
  #root: ShadowRoot;
  #mount: HTMLElement;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = EMBED_CSS;
    this.#mount = document.createElement("div");
    this.#mount.className = "embed-root";
    this.#root.append(style, this.#mount);
  }

  /** The host app's supabase-js client; its session is the components' session. */
  get client(): SupabaseClient | null {
    return this.#client;
  }
  set client(value: SupabaseClient | null) {
    this.#client = value;
    this.update();
  }

  /** Texts to replace (see `messages.ts`); also settable as a JSON attribute. */
  get messages(): Messages {
    if (this.#messages) return mergeMessages(this.#messages);
    try {
      return mergeMessages(JSON.parse(this.getAttribute("messages") ?? "null"));
    } catch {
      return mergeMessages(null);
    }
  }
  set messages(value: Partial<Messages>) {
    this.#messages = value;
    this.update();
  }

  /** The project's calls, or null until the element has a client or URL and key. */
  protected api(): Api | null {
    return connect({
      client: this.#client,
      supabaseUrl: this.getAttribute("supabase-url"),
      publishableKey: this.getAttribute("publishable-key"),
    });
  }

  /** What to show; called on every change of attributes or properties. */
  protected abstract view(): ComponentChild;

  /** Renders again (when connected). */
  protected update() {
    if (this.isConnected) render(this.view(), this.#mount);
  }

  connectedCallback() {
    this.update();
  }

  disconnectedCallback() {
    render(null, this.#mount);
  }

  attributeChangedCallback() {
    this.update();
  }
}
