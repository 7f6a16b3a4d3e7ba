/** @jsxImportSource preact */
/**
 * E-mail + password sign-in through `supabase.auth.signInWithPassword`. On the local stack the
 * configuration lists the local accounts; picking one fills the form.
 *
 * @module
 */
import { useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { ErrorNote } from "./common.tsx";

/** The sign-in screen. */
export function SignIn(props: { api: Api }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const accounts = props.api.config.localAccounts ?? [];

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { error } = await props.api.supabase.auth.signInWithPassword({ email, password });
      if (error) {
        setError(
          error.status === 400 || error.code === "invalid_credentials"
            ? new Error("Wrong e-mail or password.")
            : new Error(`Sign-in failed: ${error.message}`),
        );
      }
    } catch (caught) {
      setError(new Error(`Sign-in failed: ${String(caught)}`));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card signin" aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      <form onSubmit={submit}>
        <label for="signin-email">Email</label>
        <input
          id="signin-email"
          type="email"
          autocomplete="username"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
        <label for="signin-password">Password</label>
        <input
          id="signin-password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      {accounts.length > 0 && (
        <div class="local-accounts">
          <h3>Local accounts</h3>
          <p class="hint">This is the local stack: these accounts exist only here.</p>
          <ul>
            {accounts.map((account) => (
              <li key={account.email}>
                <button
                  type="button"
                  class="link"
                  onClick={() => {
                    setEmail(account.email);
                    setPassword(account.password);
                  }}
                >
                  Use {account.email}
                </button>{" "}
                <span class="muted">({account.role || "no role"})</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
