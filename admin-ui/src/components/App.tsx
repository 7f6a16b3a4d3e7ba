/** @jsxImportSource preact */
/**
 * The shell: who is signed in, the sections (statistics first), and the explanation for a
 * signed-in user without a role.
 *
 * @module
 */
import { useCallback, useEffect, useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { type Role, useSession } from "../session.ts";
import { BrowseView } from "./Browse.tsx";
import { ErrorNote } from "./common.tsx";
import { RebuildView } from "./Rebuild.tsx";
import { ReconcileView } from "./Reconcile.tsx";
import { SignIn } from "./SignIn.tsx";
import { StatsView } from "./Stats.tsx";
import { UploadView } from "./Upload.tsx";

const SECTIONS = [
  { id: "stats", label: "Statistics" },
  { id: "upload", label: "Upload" },
  { id: "browse", label: "Browse" },
  { id: "rebuild", label: "Rebuild" },
  { id: "reconcile", label: "Reconcile" },
] as const;

type SectionId = typeof SECTIONS[number]["id"];

function sectionOfHash(): SectionId {
  const id = location.hash.replace(/^#\/?/, "");
  return SECTIONS.some((s) => s.id === id) ? id as SectionId : "stats";
}

/** The section in the URL hash, so reloads and links keep their place. */
function useSection(): SectionId {
  const [section, setSection] = useState(sectionOfHash);
  useEffect(() => {
    const follow = () => setSection(sectionOfHash());
    addEventListener("hashchange", follow);
    return () => removeEventListener("hashchange", follow);
  }, []);
  return section;
}

const ROLE_WORDS: Record<Role, string> = {
  admin: "admin",
  manager: "manager",
  none: "no role",
};

/** The whole app. */
export function App(props: { api: Api }) {
  const { api } = props;
  const session = useSession(api);
  const section = useSection();
  const [version, setVersion] = useState(0);
  const [signOutError, setSignOutError] = useState<unknown>(null);
  const refresh = useCallback(() => setVersion((v) => v + 1), []);

  async function signOut() {
    setSignOutError(null);
    const { error } = await api.supabase.auth.signOut();
    // A server that could not be told still leaves this browser signed out: say so.
    if (error) setSignOutError(new Error(`Signed out here; the server said: ${error.message}`));
  }

  return (
    <>
      <header class="topbar">
        <h1>S3 image cache</h1>
        {session.status === "signedIn" && (
          <div class="account">
            <span data-testid="who">
              Signed in as <strong>{session.email}</strong>{" "}
              <span class={`role role-${session.role}`} data-testid="role">
                {ROLE_WORDS[session.role]}
              </span>
            </span>
            <button type="button" onClick={signOut}>Sign out</button>
          </div>
        )}
      </header>
      <ErrorNote error={signOutError} />
      {session.status === "loading" && <p class="muted" aria-busy="true">Loading…</p>}
      {session.status === "signedOut" && (
        <main id="main">
          <SignIn api={api} />
        </main>
      )}
      {session.status === "signedIn" && session.role === "none" && (
        <main id="main">
          <section class="card notice" role="note" aria-labelledby="norole-title">
            <h2 id="norole-title">This account has no role</h2>
            <p>
              You are signed in as <strong>{session.email}</strong>, but this account is neither a
              {" "}
              <em>manager</em> nor an{" "}
              <em>admin</em>, so the functions refuse its requests: there is nothing you can do here
              yet. Ask an admin to set <code>app_metadata.role</code> to <code>manager</code>{" "}
              (upload and add images) or <code>admin</code>{" "}
              (also rebuild and remove) for your user, then sign in again.
            </p>
          </section>
        </main>
      )}
      {session.status === "signedIn" && session.role !== "none" && (
        <>
          <nav class="tabs" aria-label="Sections">
            {SECTIONS.map((s) => (
              <a key={s.id} href={`#${s.id}`} aria-current={section === s.id ? "page" : undefined}>
                {s.label}
              </a>
            ))}
          </nav>
          <main id="main">
            {section === "stats" && <StatsView api={api} version={version} onRefresh={refresh} />}
            {section === "upload" && <UploadView api={api} onStored={refresh} />}
            {section === "browse" && (
              <BrowseView api={api} role={session.role} onChanged={refresh} />
            )}
            {section === "rebuild" && (
              <RebuildView api={api} role={session.role} onFinished={refresh} />
            )}
            {section === "reconcile" && (
              <ReconcileView api={api} role={session.role} onApplied={refresh} />
            )}
          </main>
        </>
      )}
    </>
  );
}
