/** Every service with its status, instances and any deployment in progress; a group tree (`/team/*`) narrows the list. */
import { useMemo, useState } from 'react';
import type { App, Deployment, QueueEntry } from '../api.ts';
import { Badge, ErrorBox, Grid, PageHead, cpus, mib, type Column } from '../components.tsx';
import { useResource } from '../live.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { GroupTree } from '../group-tree.tsx';
import { ServiceActions } from './ServiceActions.tsx';
import { ServiceForm } from './ServiceForm.tsx';

/** One word for an app's condition, in the order an operator would care. */
export function appStatus(app: App, queue: QueueEntry | undefined): string {
  if (queue?.launchStopped) return 'Stopped';
  if (app.deployments.length > 0) return 'Deploying';
  if (app.instances === 0) return 'Suspended';
  if (queue && !queue.delay.overdue) return 'Delayed';
  if (app.tasksRunning < app.instances) return 'Waiting';
  if (app.tasksUnhealthy > 0) return 'Unhealthy';
  return 'Running';
}

export function Services() {
  const apps = useResource<{ apps: App[] }>('/v2/apps', ['apps']);
  const deployments = useResource<Deployment[]>('/v2/deployments', ['deployments']);
  const queue = useResource<{ queue: QueueEntry[] }>('/v2/queue', ['queue']);
  const [filter, setFilter] = useState('');
  const [creating, setCreating] = useState(false);
  const { query } = useLocation();
  const group = query.get('group') ?? '/';
  const ids = useMemo(() => (apps.data?.apps ?? []).map((a) => a.id), [apps.data]);

  const queued = useMemo(() => new Map((queue.data?.queue ?? []).flatMap((q) => (q.app === undefined ? [] : [[q.app.id, q] as const]))), [queue.data]);
  const rows = useMemo(
    () => (apps.data?.apps ?? []).filter((a) => (group === '/' || a.id.startsWith(`${group}/`)) && a.id.includes(filter)).sort((a, b) => a.id.localeCompare(b.id)),
    [apps.data, filter, group],
  );
  const deploying = deployments.data ?? [];

  const columns: Column<App>[] = [
    {
      title: 'Service',
      width: 'minmax(150px, 2fr)',
      render: (a) => (
        <Link to={`/services${a.id}`} className="mono strong">
          {a.id}
        </Link>
      ),
    },
    { title: 'Status', width: '100px', render: (a) => <Badge value={appStatus(a, queued.get(a.id))} /> },
    { title: 'Running', width: '76px', align: 'right', render: (a) => <span data-testid="running">{`${a.tasksRunning} / ${a.instances}`}</span> },
    { title: 'Healthy', width: '64px', align: 'right', render: (a) => ((a.healthChecks?.length ?? 0) === 0 ? <span className="muted">—</span> : a.tasksHealthy) },
    { title: 'Staged', width: '60px', align: 'right', render: (a) => a.tasksStaged },
    { title: 'CPU', width: '50px', align: 'right', render: (a) => cpus(a.cpus) },
    { title: 'Mem', width: '72px', align: 'right', render: (a) => mib(a.mem) },
    {
      title: 'Image',
      width: 'minmax(100px, 1fr)',
      render: (a) =>
        a.container?.docker?.image ? (
          <span className="mono ellipsis" title={a.container.docker.image} data-testid="app-image">
            {a.container.docker.image}
          </span>
        ) : (
          <span className="muted">—</span>
        ),
    },
    {
      title: 'Deployment',
      width: 'minmax(110px, 1fr)',
      render: (a) => {
        if (a.deployments.length === 0) return <span className="muted">—</span>;
        const pct = a.instances === 0 ? 100 : Math.min(100, (a.tasksRunning / a.instances) * 100);
        return (
          <div className="bar" title={`${a.tasksRunning} of ${a.instances} instances running`}>
            <div className="bar-track">
              <div className="bar-fill info" style={{ width: `${pct}%` }} />
            </div>
            <span className="bar-text">{Math.round(pct)}%</span>
          </div>
        );
      },
    },
    { title: '', width: '196px', render: (a) => <ServiceActions app={a} compact /> },
  ];

  return (
    <div className="page fill">
      <PageHead title={group === '/' ? 'Services' : `Services in ${group}`} sub={`${rows.length} services · ${deploying.length} deployments in progress`}>
        <input className="search" placeholder="Filter by ID" value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="Filter services" />
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          Create service
        </button>
      </PageHead>
      <ErrorBox error={apps.error} />
      {deploying.length > 0 ? (
        <div className="deploy-strip" aria-label="Deployments in progress">
          {deploying.map((d) => (
            <span key={d.id} className="chip" title={d.id}>
              {d.currentActions.map((x) => `${x.action} ${x.app}`).join(', ')} · step {d.currentStep}/{d.totalSteps}
            </span>
          ))}
        </div>
      ) : null}
      <div className="with-tree">
        <GroupTree ids={ids} selected={group} onSelect={(g) => navigate(g === '/' ? '/services' : `/services?group=${encodeURIComponent(g)}`)} />
        <Grid
          label="Services"
          rows={rows}
          columns={columns}
          rowKey={(a) => a.id}
          rowHeight={38}
          onRowClick={(a) => navigate(`/services${a.id}`)}
          empty={apps.loading ? 'Loading…' : 'No services yet. Create one to run a long-lived command on the cluster.'}
        />
      </div>
      {creating ? <ServiceForm onClose={() => setCreating(false)} /> : null}
    </div>
  );
}
