/**
 * Tasks of every framework, filtered by the master (`/master/tasks?filter=&state=`), in a windowed
 * list; a selected task shows its log (followed live) and its sandbox files.
 */
import { useEffect, useMemo, useState } from 'react';
import { ApiError, num, request, taskImage, type MasterState, type MesosTask } from '../api.ts';
import { useConfirm } from '../confirm.tsx';
import { notify } from '../notify.tsx';
import { Badge, ErrorBox, Grid, PageHead, ago, cpus, mib, type Column } from '../components.tsx';
import { hub, useResource } from '../live.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { FileBrowser, LogTail } from './Sandbox.tsx';

const STATES = ['', 'TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_UNREACHABLE'];
/** The most the list asks for at once; the windowed list renders any of it without strain. */
const LIMIT = 20_000;

function withQuery(query: URLSearchParams, changes: Record<string, string | undefined>): string {
  const next = new URLSearchParams(query);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') next.delete(k);
    else next.set(k, v);
  }
  const s = next.toString();
  return s ? `/tasks?${s}` : '/tasks';
}

export function Tasks() {
  const { query } = useLocation();
  const filter = query.get('filter') ?? '';
  const state = query.get('state') ?? '';
  const completed = query.get('completed') === 'true';
  const selectedId = query.get('task') ?? undefined;
  const [text, setText] = useState(filter);
  useEffect(() => setText(filter), [filter]);
  // Typing filters on the server, a moment after the last key.
  useEffect(() => {
    if (text === filter) return;
    const t = setTimeout(() => navigate(withQuery(query, { filter: text }), true), 300);
    return () => clearTimeout(t);
  }, [text, filter, query]);

  const params = new URLSearchParams({ limit: String(LIMIT), order: 'desc', completed: String(completed) });
  if (filter) params.set('filter', filter);
  if (state) params.set('state', state);
  const tasks = useResource<{ tasks: MesosTask[] }>(`/master/tasks?${params.toString()}`, ['tasks']);
  const rows = tasks.data?.tasks ?? [];
  const inList = rows.find((t) => t.id === selectedId);
  // A task linked from elsewhere may be outside the current filter: fetch it on its own.
  const single = useResource<{ tasks: MesosTask[] }>(selectedId && !inList ? `/master/tasks?task_id=${encodeURIComponent(selectedId)}` : null, ['tasks']);
  const selected = inList ?? single.data?.tasks[0];

  const columns: Column<MesosTask>[] = useMemo(
    () => [
      {
        title: 'Task',
        width: 'minmax(160px, 3fr)',
        render: (t) => (
          <span className="mono ellipsis" title={t.id}>
            {t.id}
          </span>
        ),
      },
      { title: 'State', width: '90px', render: (t) => <Badge value={t.state} /> },
      {
        // The image, and while it is pulled (TASK_STARTING) or after a failed pull, what the agent said.
        title: 'Image',
        width: 'minmax(120px, 2fr)',
        render: (t) => {
          const image = taskImage(t);
          if (image === undefined) return <span className="muted">—</span>;
          const last = t.statuses[t.statuses.length - 1];
          const note = t.state === 'TASK_STARTING' || t.state === 'TASK_FAILED' ? last?.message : undefined;
          return (
            <span className="mono ellipsis" title={note === undefined ? image : `${image}\n${note}`} data-testid="task-image">
              {image}
              {note === undefined ? null : <span className="muted"> · {note}</span>}
            </span>
          );
        },
      },
      {
        title: 'Agent',
        width: 'minmax(70px, 1fr)',
        render: (t) => (
          <span className="mono muted ellipsis" title={t.slave_id}>
            {t.slave_id}
          </span>
        ),
      },
      { title: 'CPU', width: '44px', align: 'right', render: (t) => cpus(num(t.resources, 'cpus')) },
      { title: 'Mem', width: '68px', align: 'right', render: (t) => mib(num(t.resources, 'mem')) },
      { title: 'Updated', width: '80px', render: (t) => <span className="muted">{ago((t.statuses[t.statuses.length - 1]?.timestamp ?? 0) * 1000)}</span> },
    ],
    [],
  );

  return (
    <div className="page fill">
      <PageHead title="Tasks" sub={`${rows.length.toLocaleString()}${rows.length >= LIMIT ? '+' : ''} tasks${filter || state ? ' matching' : ''} (filtered by the master)`}>
        <input className="search" placeholder="Filter by task id or name" aria-label="Filter tasks" value={text} onChange={(e) => setText(e.target.value)} />
        <select aria-label="State" value={state} onChange={(e) => navigate(withQuery(query, { state: e.target.value }), true)}>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s === '' ? 'Any state' : s.slice(5).toLowerCase()}
            </option>
          ))}
        </select>
        <label className="check">
          <input type="checkbox" checked={completed} onChange={(e) => navigate(withQuery(query, { completed: e.target.checked ? 'true' : undefined }), true)} /> include completed
        </label>
      </PageHead>
      <ErrorBox error={tasks.error} />
      <div className={selected ? 'split' : 'split single'}>
        <Grid
          label="Tasks"
          rows={rows}
          columns={columns}
          rowKey={(t) => t.id}
          selected={selectedId}
          onRowClick={(t) => navigate(withQuery(query, { task: t.id }))}
          empty={tasks.loading ? 'Loading…' : 'No task matches.'}
        />
        {selected ? <TaskPanel task={selected} onClose={() => navigate(withQuery(query, { task: undefined }))} /> : null}
      </div>
    </div>
  );
}

const LIVE = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING']);
/** Marathon's task ids end in `._app.N`: those can be killed through `/v2/tasks/delete`. */
const isServiceTask = (t: MesosTask): boolean => /\._app\.\d+$/.test(t.id);

async function kill(id: string, scale: boolean): Promise<void> {
  await request('POST', `/v2/tasks/delete${scale ? '?scale=true' : ''}`, { ids: [id] })
    .then(() => notify(scale ? `Killing ${id} and scaling down` : `Killing ${id}`))
    .catch((e: unknown) => notify(`Kill failed: ${e instanceof ApiError ? e.message : String(e)}`, 'bad'));
  hub.invalidate(['tasks', 'apps']);
}

function TaskPanel({ task, onClose }: { task: MesosTask; onClose: () => void }) {
  const [tab, setTab] = useState<'stdout' | 'stderr' | 'files'>('stdout');
  const [dialog, ask] = useConfirm();
  // Nodes by hostname, not by id: the id is in the link's title.
  const agents = useResource<MasterState>('/master/state?limit=0', ['agents']);
  const hostname = agents.data?.slaves.find((a) => a.id === task.slave_id)?.hostname;
  const last = task.statuses[task.statuses.length - 1];
  return (
    <aside className="task-panel" aria-label="Task">
      <div className="panel-head">
        <div>
          <div className="mono strong ellipsis" title={task.id}>
            {task.id}
          </div>
          <div className="muted small">
            <Badge value={task.state} /> on{' '}
            <Link to={`/nodes/${encodeURIComponent(task.slave_id)}`} title={task.slave_id}>
              {hostname ?? task.slave_id}
            </Link>{' '}
            {last?.message ? `· ${last.message}` : ''}
          </div>
        </div>
        <div className="row-actions">
          {isServiceTask(task) && LIVE.has(task.state) ? (
            <>
              <button
                type="button"
                className="small"
                title="Kill this instance; the service starts a replacement"
                onClick={() => ask(`Kill ${task.name || task.id}?`, 'The instance is killed; its service starts a replacement.', 'Kill', () => kill(task.id, false))}
              >
                Kill
              </button>
              <button
                type="button"
                className="small danger"
                title="Kill this instance and lower the service's instance count"
                onClick={() =>
                  ask(`Kill ${task.name || task.id} and scale down?`, "The instance is killed and the service's instance count lowered by one: no replacement starts.", 'Kill and scale down', () =>
                    kill(task.id, true),
                  )
                }
              >
                Kill &amp; scale down
              </button>
            </>
          ) : null}
          {dialog}
          <button type="button" className="icon" aria-label="Close task" onClick={onClose}>
            ×
          </button>
        </div>
      </div>
      <div className="tabs" role="tablist">
        {(['stdout', 'stderr', 'files'] as const).map((t) => (
          <button type="button" key={t} role="tab" aria-selected={tab === t} className={tab === t ? 'tab active' : 'tab'} onClick={() => setTab(t)}>
            {t === 'files' ? 'Files' : t}
          </button>
        ))}
      </div>
      {!task.directory ? (
        <div className="empty">The sandbox is not known yet (the task has not started on its agent).</div>
      ) : tab === 'files' ? (
        <FileBrowser agentId={task.slave_id} root={task.directory} />
      ) : (
        <LogTail key={`${task.id}/${tab}`} agentId={task.slave_id} path={`${task.directory}/${tab}`} />
      )}
    </aside>
  );
}
