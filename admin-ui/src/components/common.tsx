/** @jsxImportSource preact */
/**
 * Small pieces every screen uses: an error line, a modal confirmation, a job status word.
 *
 * @module
 */
import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef } from "preact/hooks";

/** An error as a sentence in an alert region (screen readers announce it), or nothing. */
export function ErrorNote(props: { error: unknown; id?: string }) {
  if (!props.error) return null;
  const message = props.error instanceof Error ? props.error.message : String(props.error);
  return <p class="error" role="alert" id={props.id}>{message}</p>;
}

/** Props of {@linkcode ConfirmDialog}. */
export interface ConfirmDialogProps {
  open: boolean;
  title: string;
  confirmLabel: string;
  /** Red confirm button for destructive actions. */
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  children?: ComponentChildren;
}

/**
 * A native modal `<dialog>`: it traps focus, closes on Escape and gives focus back to the
 * control that opened it.
 */
export function ConfirmDialog(props: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  // A screen may hold several dialogs: each needs its own title id.
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        props.onCancel();
      }}
    >
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          props.onConfirm();
        }}
      >
        <h2 id={titleId}>{props.title}</h2>
        <div class="dialog-body">{props.children}</div>
        <div class="actions">
          <button type="button" onClick={props.onCancel}>Cancel</button>
          <button type="submit" class={props.danger ? "danger" : "primary"}>
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A job's status word, coloured and spelled out (never colour alone). */
export function StatusWord(props: { status: string; label?: string }) {
  const label = props.label ??
    (props.status === "needs_confirmation" ? "held: needs confirmation" : props.status);
  return <span class={`status status-${props.status}`} data-status={props.status}>{label}</span>;
}

/** A labelled number for summary grids. */
export function Figure(props: { label: string; value: ComponentChildren; testId?: string }) {
  return (
    <div class="figure">
      <dt>{props.label}</dt>
      <dd data-testid={props.testId}>{props.value}</dd>
    </div>
  );
}
