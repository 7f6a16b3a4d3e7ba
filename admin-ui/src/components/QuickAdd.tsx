/** @jsxImportSource preact */
/**
 * Quick-add: index an image the bucket already holds, by name, and show the function's answer.
 *
 * @module
 */
import { useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { endpoints } from "../endpoints.ts";
import { formatBytes } from "../format.ts";
import { ErrorNote } from "./common.tsx";

/** Quick-add: index a name the bucket already holds; the answer is shown as it came. */
export function QuickAdd(props: { api: Api; onAdded: () => void }) {
  const [name, setName] = useState("");
  const [answer, setAnswer] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setAnswer("");
    setError(null);
    try {
      const { data } = await props.api.call(endpoints.addFile(name.trim()));
      const file = data.file;
      setAnswer(
        `Added "${file.filename}" to the index (${formatBytes(file.size_bytes)}, ${
          file.content_type ?? "unknown type"
        }).`,
      );
      props.onAdded();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="card quick-add" onSubmit={submit} aria-labelledby="quick-add-title">
      <h3 id="quick-add-title">Quick add</h3>
      <p class="hint">An image already in the bucket but missing from the index: add it by name.</p>
      <div class="inline-form">
        <label for="quick-add-name">File name</label>
        <input
          id="quick-add-name"
          placeholder="14000.jpg"
          required
          spellcheck={false}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>Add to index</button>
      </div>
      {answer && <p class="ok-text" role="status" data-testid="quick-add-answer">{answer}</p>}
      <ErrorNote error={error} />
    </form>
  );
}
