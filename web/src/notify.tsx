/** Short confirmations and failures of operator actions, bottom right. */
import { useSyncExternalStore } from 'react';

interface Note {
  id: number;
  text: string;
  tone: 'ok' | 'bad';
}

let notes: Note[] = [];
let next = 1;
const listeners = new Set<() => void>();
const emit = (): void => listeners.forEach((fn) => fn());

export function notify(text: string, tone: 'ok' | 'bad' = 'ok'): void {
  const id = next++;
  notes = [...notes, { id, text, tone }].slice(-4);
  emit();
  setTimeout(
    () => {
      notes = notes.filter((n) => n.id !== id);
      emit();
    },
    tone === 'bad' ? 8000 : 4000,
  );
}

export function Notes() {
  const list = useSyncExternalStore(
    (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    () => notes,
  );
  return (
    <div className="notes" role="status" aria-live="polite">
      {list.map((n) => (
        <div key={n.id} className={`note ${n.tone}`}>
          {n.text}
        </div>
      ))}
    </div>
  );
}
