/**
 * Confirmation before a destructive action (drain, destroy, kill): the dialog names what will
 * happen, and the action runs only from its own button. `useConfirm` returns the dialog to render
 * and `ask(title, consequence, label, action)`.
 */
import { useCallback, useState, type ReactNode } from 'react';
import { Modal } from './components.tsx';

interface Pending {
  title: string;
  consequence: ReactNode;
  label: string;
  action: () => void | Promise<void>;
}

export function useConfirm(): [ReactNode, (title: string, consequence: ReactNode, label: string, action: () => void | Promise<void>) => void] {
  const [pending, setPending] = useState<Pending | undefined>();
  const close = useCallback(() => setPending(undefined), []);
  const ask = useCallback((title: string, consequence: ReactNode, label: string, action: () => void | Promise<void>) => setPending({ title, consequence, label, action }), []);
  const dialog =
    pending === undefined ? null : (
      <Modal title={pending.title} onClose={close}>
        <div className="confirm">
          <p>{pending.consequence}</p>
          <div className="actions end">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button
              type="button"
              className="danger solid"
              onClick={() => {
                close();
                void pending.action();
              }}
            >
              {pending.label}
            </button>
          </div>
        </div>
      </Modal>
    );
  return [dialog, ask];
}
