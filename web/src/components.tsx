/** Building blocks shared by the pages: a windowed list, a grid over it, bars, badges, dialogs. */
import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import { visibleRange } from './window.ts';

/**
 * Renders only the rows in view (plus a few either side): the DOM holds ~40 rows whether the list
 * has 40 or 100,000. Fixed row height keeps the arithmetic exact and scrolling cheap.
 */
export function VirtualList({
  count,
  rowHeight,
  render,
  overscan = 8,
  className,
  label,
}: {
  count: number;
  rowHeight: number;
  render: (index: number) => ReactNode;
  overscan?: number;
  className?: string;
  label?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setHeight(el.clientHeight || 600);
    const observer = new ResizeObserver(() => setHeight(el.clientHeight || 600));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const { first, last } = visibleRange(scrollTop, height, rowHeight, count, overscan);
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div key={i} className="vrow" role="row" aria-rowindex={i + 2} style={{ top: i * rowHeight, height: rowHeight }}>
        {render(i)}
      </div>,
    );
  }
  return (
    <div ref={ref} className={`vlist ${className ?? ''}`} role="rowgroup" aria-label={label} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
      <div style={{ height: count * rowHeight, position: 'relative' }}>{rows}</div>
    </div>
  );
}

export interface Column<T> {
  title: string;
  width: string;
  render: (row: T) => ReactNode;
  align?: 'right';
}

/** A table whose body is a VirtualList: the header and rows share one CSS grid template. */
export function Grid<T>({
  rows,
  columns,
  rowKey,
  onRowClick,
  selected,
  rowHeight = 34,
  empty,
  label,
  height,
}: {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string;
  onRowClick?: (row: T) => void;
  selected?: string | undefined;
  rowHeight?: number;
  empty?: ReactNode;
  label: string;
  height?: number;
}) {
  const template = columns.map((c) => c.width).join(' ');
  // Narrower than its columns' minimum widths, the grid scrolls sideways instead of clipping them.
  const minWidth = columns.reduce((sum, c) => sum + Number(/(\d+)px/.exec(c.width)?.[1] ?? 40), 0) + 10 * (columns.length - 1) + 24;
  return (
    <div className="grid" role="table" aria-label={label} aria-rowcount={rows.length + 1} style={height === undefined ? undefined : { height, minHeight: 0, flex: 'none' }}>
      <div className="grid-inner" style={{ minWidth }}>
        <div className="grid-head" role="row" style={{ gridTemplateColumns: template }}>
          {columns.map((c) => (
            <div key={c.title} role="columnheader" className={c.align === 'right' ? 'num' : undefined}>
              {c.title}
            </div>
          ))}
        </div>
        {rows.length === 0 ? (
          <div className="empty">{empty ?? 'Nothing here.'}</div>
        ) : (
          <VirtualList
            count={rows.length}
            rowHeight={rowHeight}
            render={(i) => {
              const row = rows[i]!;
              const key = rowKey(row);
              return (
                <div
                  className={`grid-row${onRowClick ? ' clickable' : ''}${selected === key ? ' selected' : ''}`}
                  style={{ gridTemplateColumns: template }}
                  data-key={key}
                  onClick={onRowClick ? () => onRowClick(row) : undefined}
                >
                  {columns.map((c) => (
                    <div key={c.title} role="cell" className={c.align === 'right' ? 'num' : undefined}>
                      {c.render(row)}
                    </div>
                  ))}
                </div>
              );
            }}
          />
        )}
      </div>
    </div>
  );
}

export function Bar({ used, total, label, format = (n) => String(Math.round(n * 100) / 100) }: { used: number; total: number; label?: string; format?: (n: number) => string }) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  const level = pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low';
  return (
    <div className="bar" title={`${label ? `${label}: ` : ''}${format(used)} of ${format(total)} (${pct.toFixed(0)}%)`}>
      <div className="bar-track">
        <div className={`bar-fill ${level}`} style={{ width: `${pct}%` }} />
      </div>
      <span className="bar-text">
        {format(used)} / {format(total)}
      </span>
    </div>
  );
}

const STATE_TONE: Record<string, string> = {
  TASK_RUNNING: 'ok',
  Running: 'ok',
  SUCCESS: 'ok',
  TASK_FINISHED: 'ok',
  ACTIVE: 'info',
  Healthy: 'ok',
  active: 'ok',
  TASK_STAGING: 'info',
  TASK_STARTING: 'info',
  Deploying: 'info',
  STARTING: 'info',
  INITIAL: 'info',
  TASK_KILLING: 'warn',
  Waiting: 'warn',
  Delayed: 'warn',
  Suspended: 'muted',
  TASK_KILLED: 'muted',
  Unhealthy: 'bad',
  unreachable: 'bad',
  TASK_FAILED: 'bad',
  TASK_ERROR: 'bad',
  TASK_LOST: 'bad',
  TASK_DROPPED: 'bad',
  TASK_GONE: 'bad',
  FAILED: 'bad',
  Stopped: 'bad',
  TASK_UNREACHABLE: 'bad',
};

export function Badge({ value, tone }: { value: string; tone?: string }) {
  const shown = value.startsWith('TASK_') ? value.slice(5).toLowerCase() : value;
  return <span className={`badge ${tone ?? STATE_TONE[value] ?? 'muted'}`}>{shown}</span>;
}

export function Modal({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={`modal${wide ? ' wide' : ''}`} role="dialog" aria-modal="true" aria-label={title}>
        <div className="modal-head">
          <h2>{title}</h2>
          <button type="button" className="icon" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}

export function ErrorBox({ error }: { error: Error | undefined }) {
  if (!error) return null;
  return <div className="alert bad">{error.message}</div>;
}

export function PageHead({ title, children, sub }: { title: string; children?: ReactNode; sub?: ReactNode }) {
  return (
    <div className="page-head">
      <div>
        <h1>{title}</h1>
        {sub ? <div className="sub">{sub}</div> : null}
      </div>
      <div className="actions">{children}</div>
    </div>
  );
}

export function ago(at: number | string | null | undefined): string {
  if (at === null || at === undefined || at === '') return '—';
  const t = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(t)) return '—';
  const s = Math.round((Date.now() - t) / 1000);
  const whole = (n: number): string => (n < 60 ? `${n}s` : duration(n));
  if (s < 0) return `in ${whole(-s)}`;
  return `${whole(s)} ago`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor((seconds % 86400) / 3600)}h`;
}

export const mib = (n: number): string => (n >= 1024 ? `${(n / 1024).toFixed(n >= 10240 ? 0 : 1)} GiB` : `${Math.round(n)} MiB`);
export const cpus = (n: number): string => (Math.round(n * 100) / 100).toString();
