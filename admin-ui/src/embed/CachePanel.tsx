/** @jsxImportSource preact */
/**
 * The view of `<s3-image-cache-panel>`: the original system's "S3 Image Cache Management"
 * section — statistics, quick add by name, and "Rebuild index" with live progress and the held
 * state. These are the admin UI's own screens (Stats, QuickAdd, Rebuild), not copies: the roles
 * they offer come from the same table the functions use, so managers see why they cannot rebuild.
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { QuickAdd } from "../components/QuickAdd.tsx";
import { RebuildView } from "../components/Rebuild.tsx";
import { StatsView } from "../components/Stats.tsx";
import { may, useSession } from "../session.ts";
import type { Messages } from "./messages.ts";

/** Statistics, quick add and rebuild for staff; a sentence for everyone else. */
export function CachePanel(props: { api: Api; messages: Messages }) {
  const { api, messages: m } = props;
  const session = useSession(api);
  const [version, setVersion] = useState(0);
  const refresh = () => setVersion((v) => v + 1);
  const staff = session.status === "signedIn" && may(session.role, "staff");
  // An image stored by an <s3-product-image> on the same page changes the statistics too.
  useEffect(() => {
    const stored = (event: Event) => event instanceof CustomEvent && event.detail?.key && refresh();
    document.addEventListener("change", stored);
    return () => document.removeEventListener("change", stored);
  }, []);
  return (
    <section class="panel" part="panel" aria-label={m.panelTitle}>
      <h2 part="title">{m.panelTitle}</h2>
      {session.status === "signedOut" && <p class="notice">{m.signedOut}</p>}
      {session.status === "signedIn" && !staff && <p class="notice">{m.panelNoRole}</p>}
      {session.status === "signedIn" && staff && (
        <>
          <div part="stats">
            <StatsView api={api} version={version} onRefresh={refresh} />
          </div>
          <div part="quick-add">
            <QuickAdd api={api} onAdded={refresh} />
          </div>
          <div part="rebuild">
            <RebuildView api={api} role={session.role} onFinished={refresh} />
          </div>
        </>
      )}
    </section>
  );
}
