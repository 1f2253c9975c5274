/** Agents with their resources as bars, attributes and status; drain (confirmed) and reactivate them; each links to its page (NodeDetail.tsx). */
import { useMemo, useState } from 'react';
import { ApiError, num, rangeCount, request, type Agent, type MasterState } from '../api.ts';
import { Badge, Bar, ErrorBox, Grid, PageHead, ago, cpus, mib, type Column } from '../components.tsx';
import { hub, useResource } from '../live.ts';
import { notify } from '../notify.tsx';
import { Link, useLocation } from '../router.tsx';
import { useConfirm } from '../confirm.tsx';

/** Maintenance goes through the master's operator API, as Mesos' DRAIN_AGENT / REACTIVATE_AGENT. */
export async function maintain(agent: Agent, type: 'DRAIN_AGENT' | 'REACTIVATE_AGENT'): Promise<void> {
  const field = type === 'DRAIN_AGENT' ? 'drain_agent' : 'reactivate_agent';
  try {
    await request('POST', '/api/v1', { type, [field]: { agent_id: { value: agent.id } } });
    notify(type === 'DRAIN_AGENT' ? `Draining ${agent.hostname}: its tasks are killed and placed elsewhere` : `${agent.hostname} is offered again`);
  } catch (e) {
    notify(`${type === 'DRAIN_AGENT' ? 'Drain' : 'Reactivate'} failed: ${e instanceof ApiError ? `${e.status} ${e.message}` : String(e)}`, 'bad');
  }
  hub.invalidate(['agents', 'tasks']);
}

/** What the Status column says: maintenance first, then reachability. */
export function nodeStatus(a: Agent): string {
  if (a.drain_info) return a.drain_info.state.toLowerCase();
  if (a.deactivated) return 'deactivated';
  return a.drover_status ?? (a.active ? 'active' : 'inactive');
}

export function attributes(a: Agent): string {
  return Object.entries(a.attributes ?? {})
    .map(([k, v]) => `${k}:${Array.isArray(v) ? JSON.stringify(v) : String(v)}`)
    .join('  ');
}

export function Nodes() {
  // limit=0: agents without task lists; their used resources are already summed by the master.
  const state = useResource<MasterState>('/master/state?limit=0', ['agents']);
  const { query } = useLocation();
  const [filter, setFilter] = useState(query.get('q') ?? '');
  const [dialog, ask] = useConfirm();
  const rows = useMemo(
    () =>
      (state.data?.slaves ?? [])
        .filter((a) => filter === '' || a.hostname.includes(filter) || a.id.includes(filter) || attributes(a).includes(filter))
        .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id)),
    [state.data, filter],
  );
  const columns: Column<Agent>[] = [
    {
      title: 'Agent',
      width: 'minmax(150px, 1.2fr)',
      render: (a) => (
        <div className="two-line">
          <Link to={`/nodes/${encodeURIComponent(a.id)}`} className="mono strong" title={`${a.hostname}:${a.port}`}>
            {a.hostname}
          </Link>
          <span className="mono muted small ellipsis" title={a.id}>
            {a.id}
          </span>
        </div>
      ),
    },
    { title: 'Status', width: '96px', render: (a) => <Badge value={nodeStatus(a)} /> },
    { title: 'CPU', width: 'minmax(100px, 0.8fr)', render: (a) => <Bar used={num(a.used_resources, 'cpus')} total={num(a.resources, 'cpus')} format={cpus} label="CPU" /> },
    { title: 'Memory', width: 'minmax(150px, 1fr)', render: (a) => <Bar used={num(a.used_resources, 'mem')} total={num(a.resources, 'mem')} format={mib} label="Memory" /> },
    { title: 'Disk', width: 'minmax(150px, 1fr)', render: (a) => <Bar used={num(a.used_resources, 'disk')} total={num(a.resources, 'disk')} format={mib} label="Disk" /> },
    { title: 'Ports', width: 'minmax(100px, 0.8fr)', render: (a) => <Bar used={rangeCount(a.used_resources)} total={rangeCount(a.resources)} format={(n) => String(n)} label="Ports" /> },
    {
      title: 'Attributes',
      width: 'minmax(80px, 0.8fr)',
      render: (a) => (
        <span className="mono small ellipsis" title={attributes(a)}>
          {attributes(a) || <span className="muted">—</span>}
        </span>
      ),
    },
    { title: 'Registered', width: '76px', render: (a) => <span className="muted">{ago(a.registered_time * 1000)}</span> },
    {
      title: '',
      width: '160px',
      render: (a) => (
        <div className="row-actions">
          <button
            type="button"
            className="small"
            disabled={a.drain_info !== undefined}
            title="Stop offering this node and kill its tasks (their schedulers place them elsewhere)"
            aria-label={`Drain ${a.hostname}`}
            onClick={() =>
              ask(`Drain ${a.hostname}?`, `${a.hostname} stops receiving offers and its tasks are killed; their schedulers place them elsewhere.`, 'Drain', () => maintain(a, 'DRAIN_AGENT'))
            }
          >
            Drain
          </button>
          <button type="button" className="small" disabled={!a.deactivated} title="Offer this node again" aria-label={`Reactivate ${a.hostname}`} onClick={() => void maintain(a, 'REACTIVATE_AGENT')}>
            Reactivate
          </button>
        </div>
      ),
    },
  ];
  const active = rows.filter((a) => a.active && !a.deactivated).length;
  return (
    <div className="page fill">
      <PageHead title="Nodes" sub={`${rows.length.toLocaleString()} agents · ${active.toLocaleString()} active`}>
        <input className="search" placeholder="Filter by host, id or attribute" aria-label="Filter nodes" value={filter} onChange={(e) => setFilter(e.target.value)} />
      </PageHead>
      {dialog}
      <ErrorBox error={state.error} />
      <Grid label="Nodes" rows={rows} columns={columns} rowKey={(a) => a.id} rowHeight={46} empty={state.loading ? 'Loading…' : 'No agents registered. Start one with `drover agent --master URL`.'} />
    </div>
  );
}
