/** @jsxImportSource preact */
/**
 * Entry point: reads `/config.js`'s settings and mounts the app.
 *
 * @module
 */
import { render } from "preact";
import { createApi } from "./api.ts";
import { readConfig } from "./config.ts";
import { App } from "./components/App.tsx";

const root = document.getElementById("app")!;
try {
  render(<App api={createApi(readConfig(globalThis.window?.S3_IMAGE_CACHE_CONFIG))} />, root);
} catch (error) {
  // Without settings there is no app to show: say what is missing, as text.
  const message = document.createElement("p");
  message.className = "error";
  message.setAttribute("role", "alert");
  message.textContent = error instanceof Error ? error.message : String(error);
  root.replaceChildren(message);
}
