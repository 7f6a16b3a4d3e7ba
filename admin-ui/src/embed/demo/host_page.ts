/**
 * The demo host page's own script (`embed-demo.html`), written as a store's app would be: it
 * owns the supabase-js client and the sign-in, hands the client to every component, and listens
 * to their `change` events. Nothing here is part of `embed.js`.
 *
 * @module
 */
import { createClient } from "@supabase/supabase-js";
// The page reads the same `config.js` the admin UI does (its `Window` typing lives there).
import type {} from "../../config.ts";

declare global {
  interface Window {
    /** Every `change` event's detail, for the browser tests. */
    embedChanges: unknown[];
  }
}

const page = globalThis.window;
const config = page.S3_IMAGE_CACHE_CONFIG;
if (!config?.supabaseUrl || !config.anonKey) {
  throw new Error("config.js must set S3_IMAGE_CACHE_CONFIG with supabaseUrl and anonKey");
}
const supabase = createClient(config.supabaseUrl, config.anonKey);
page.embedChanges = [];

const form = document.getElementById("sign-in") as HTMLFormElement;
const who = document.getElementById("who")!;
const signOut = document.getElementById("sign-out") as HTMLButtonElement;
const events = document.getElementById("events")!;

/** Hands the page's client to every component (again after each sign-in: they re-read it). */
function handClient() {
  for (const element of document.querySelectorAll("s3-product-image, s3-image-cache-panel")) {
    (element as HTMLElement & { client: unknown }).client = supabase;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const { error } = await supabase.auth.signInWithPassword({
    email: String(data.get("email")),
    password: String(data.get("password")),
  });
  // Success shows through onAuthStateChange below.
  if (error) who.textContent = `Sign-in failed: ${error.message}`;
});

signOut.addEventListener("click", () => supabase.auth.signOut());

supabase.auth.onAuthStateChange((_event, session) => {
  who.textContent = session ? `Signed in as ${session.user.email}` : "";
  signOut.hidden = !session;
});

document.addEventListener("change", (event) => {
  if (!(event instanceof CustomEvent) || event.target?.constructor === HTMLInputElement) return;
  page.embedChanges.push(event.detail);
  const line = document.createElement("li");
  line.textContent = `change: ${JSON.stringify(event.detail)}`;
  events.append(line);
});

// The elements upgrade when embed.js has run; hand them the client once they exist.
customElements.whenDefined("s3-product-image").then(handClient);
customElements.whenDefined("s3-image-cache-panel").then(handClient);
