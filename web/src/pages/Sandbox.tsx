/**
 * A task's sandbox through the agent files API (relayed by the master): a live log tail that
 * follows the file with a streaming fetch of `/files/follow`, and a file browser.
 */
import { useEffect, useRef, useState } from 'react';
import { filesUrl, get, type FileInfo } from '../api.ts';
import { ErrorBox, ago } from '../components.tsx';

const TAIL_BYTES = 16 * 1024;
const MAX_LINES = 5000;

/** Shows the end of a file, then everything appended to it, as it arrives. */
export function LogTail({ agentId, path }: { agentId: string; path: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState<'loading' | 'following' | 'reconnecting' | 'paused'>('loading');
  const [error, setError] = useState<Error | undefined>();
  const [paused, setPaused] = useState(false);
  const box = useRef<HTMLPreElement>(null);
  const stick = useRef(true);

  useEffect(() => {
    if (paused) {
      setStatus('paused');
      return;
    }
    const abort = new AbortController();
    let partial = '';
    const append = (text: string, reset = false) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      setLines((old) => {
        const next = reset ? parts : old.concat(parts);
        return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
      });
    };
    let offset = -1;
    const run = async () => {
      let first = true;
      while (!abort.signal.aborted) {
        try {
          if (offset < 0) {
            const end = (await get<{ offset: number }>(filesUrl(agentId, 'read', { path, offset: '-1' }), abort.signal)).offset;
            const start = Math.max(0, end - TAIL_BYTES);
            const head = await get<{ offset: number; data: string }>(filesUrl(agentId, 'read', { path, offset: String(start), length: String(end - start) }), abort.signal);
            // Starting mid-file: drop the cut first line.
            const text = start > 0 ? head.data.slice(head.data.indexOf('\n') + 1) : head.data;
            append(text, first);
            first = false;
            offset = head.offset + new TextEncoder().encode(head.data).length;
          }
          const response = await fetch(filesUrl(agentId, 'follow', { path, offset: String(offset) }), { signal: abort.signal, cache: 'no-store' });
          if (!response.ok || !response.body) throw new Error(`follow: HTTP ${response.status} ${await response.text().catch(() => '')}`);
          setStatus('following');
          setError(undefined);
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            offset += value.byteLength;
            append(decoder.decode(value, { stream: true }));
          }
        } catch (e) {
          if (abort.signal.aborted) return;
          setError(e instanceof Error ? e : new Error(String(e)));
        }
        // The stream ended (agent restart, file rotated away): resume from where we were.
        setStatus('reconnecting');
        await new Promise((r) => setTimeout(r, 1500));
      }
    };
    void run();
    return () => abort.abort();
  }, [agentId, path, paused]);

  useEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <div className="log">
      <div className="log-bar">
        <span className={`conn ${status === 'following' ? 'live' : status === 'paused' ? 'connecting' : 'offline'}`} data-testid="log-status">
          <span className="dot" /> {status === 'following' ? 'Following' : status === 'paused' ? 'Paused' : status === 'loading' ? 'Loading…' : 'Reconnecting…'}
        </span>
        <span className="mono muted ellipsis">{path}</span>
        <span className="grow" />
        <button type="button" className="small" onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <a className="button small" href={filesUrl(agentId, 'download', { path })}>
          Download
        </a>
      </div>
      <ErrorBox error={error} />
      <pre
        ref={box}
        className="log-text"
        data-testid="log-text"
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {lines.length === 0 && status !== 'loading' ? <span className="muted">(empty so far — new output appears here)</span> : lines.join('\n')}
      </pre>
    </div>
  );
}

export function FileBrowser({ agentId, root }: { agentId: string; root: string }) {
  const [dir, setDir] = useState(root);
  const [entries, setEntries] = useState<FileInfo[]>([]);
  const [error, setError] = useState<Error | undefined>();
  const [open, setOpen] = useState<{ path: string; data: string; size: number } | undefined>();

  useEffect(() => setDir(root), [root]);
  useEffect(() => {
    const abort = new AbortController();
    get<FileInfo[]>(filesUrl(agentId, 'browse', { path: dir }), abort.signal)
      .then((list) => {
        setEntries(list);
        setError(undefined);
      })
      .catch((e: unknown) => !abort.signal.aborted && setError(e as Error));
    return () => abort.abort();
  }, [agentId, dir]);

  const show = async (f: FileInfo) => {
    const r = await get<{ data: string }>(filesUrl(agentId, 'read', { path: f.path, offset: '0', length: String(64 * 1024) })).catch((e: unknown) => ({ data: `(could not read: ${String(e)})` }));
    setOpen({ path: f.path, data: r.data, size: f.size });
  };

  const rel = dir.startsWith(root) ? dir.slice(root.length) || '/' : dir;
  return (
    <div className="files">
      <div className="crumbs mono">
        <button type="button" className="link" onClick={() => setDir(root)}>
          sandbox
        </button>
        {rel
          .split('/')
          .filter(Boolean)
          .map((seg, i, all) => (
            <span key={i}>
              {' / '}
              <button type="button" className="link" onClick={() => setDir(`${root}/${all.slice(0, i + 1).join('/')}`)}>
                {seg}
              </button>
            </span>
          ))}
      </div>
      <ErrorBox error={error} />
      <table className="table compact" aria-label="Sandbox files">
        <thead>
          <tr>
            <th>Name</th>
            <th>Mode</th>
            <th className="num">Size</th>
            <th>Modified</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {entries.map((f) => {
            const name = f.path.split('/').pop() ?? f.path;
            const isDir = f.mode.startsWith('d');
            return (
              <tr key={f.path}>
                <td className="mono">
                  <button type="button" className="link" onClick={() => (isDir ? setDir(f.path) : void show(f))}>
                    {isDir ? `${name}/` : name}
                  </button>
                </td>
                <td className="mono muted">{f.mode}</td>
                <td className="num">{isDir ? '—' : f.size.toLocaleString()}</td>
                <td className="muted nowrap">{ago(f.mtime * 1000)}</td>
                <td className="right">{isDir ? null : <a href={filesUrl(agentId, 'download', { path: f.path })}>download</a>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {open ? (
        <div className="file-view">
          <div className="log-bar">
            <span className="mono ellipsis">{open.path}</span>
            <span className="grow" />
            <span className="muted">{open.size > 64 * 1024 ? 'first 64 KiB' : `${open.size.toLocaleString()} bytes`}</span>
            <button type="button" className="small" onClick={() => setOpen(undefined)}>
              Close
            </button>
          </div>
          <pre className="log-text short">{open.data}</pre>
        </div>
      ) : null}
    </div>
  );
}
