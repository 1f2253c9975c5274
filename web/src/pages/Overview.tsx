/** The cluster at a glance: capacity allocated vs total, agents, tasks by state, recent events. */
import { type Agent, type App, type Deployment, type MasterState, num, type QueueEntry, rangeCount, type StateSummary } from '../api.ts';
import { Badge, Bar, ErrorBox, PageHead, ago, cpus, mib } from '../components.tsx';
import { useLiveEvents, useResource } from '../live.ts';
import { Link } from '../router.tsx';
import { appStatus } from './Services.tsx';
import { ClusterUsage } from '../usage.tsx';

const SHOWN_STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_UNREACHABLE'];

export function Overview() {
  // limit=0: the agents without any task lists, however many tasks the cluster runs.
  const state = useResource<MasterState>('/master/state?limit=0', ['agents', 'summary']);
  const summary = useResource<StateSummary>('/master/state-summary', ['summary', 'tasks']);
  const apps = useResource<{ apps: App[] }>('/v2/apps', ['apps']);
  const deployments = useResource<Deployment[]>('/v2/deployments', ['deployments']);
  const queue = useResource<{ queue: QueueEntry[] }>('/v2/queue', ['queue']);
  const events = useLiveEvents();

  const agents: Agent[] = state.data?.slaves ?? [];
  const total = (name: string) => agents.reduce((s, a) => s + num(a.resources, name), 0);
  const used = (name: string) => agents.reduce((s, a) => s + num(a.used_resources, name), 0);
  const ports = { total: agents.reduce((s, a) => s + rangeCount(a.resources), 0), used: agents.reduce((s, a) => s + rangeCount(a.used_resources), 0) };
  const counts = new Map<string, number>();
  for (const f of summary.data?.frameworks ?? []) for (const s of SHOWN_STATES) counts.set(s, (counts.get(s) ?? 0) + Number(f[s] ?? 0));
  const capacity = [
    { label: 'CPU', used: used('cpus'), total: total('cpus'), format: cpus },
    { label: 'Memory', used: used('mem'), total: total('mem'), format: mib },
    { label: 'Disk', used: used('disk'), total: total('disk'), format: mib },
    { label: 'Ports', used: ports.used, total: ports.total, format: (n: number) => String(n) },
  ];
  // Services that are not simply running, with the first reason the queue gives.
  const queued = new Map((queue.data?.queue ?? []).flatMap((q) => (q.app === undefined ? [] : [[q.app.id, q] as const])));
  const attention = (apps.data?.apps ?? [])
    .map((a) => ({ app: a, status: appStatus(a, queued.get(a.id)), q: queued.get(a.id) }))
    .filter((x) => x.status !== 'Running' && x.status !== 'Suspended')
    .slice(0, 12);
  const active = agents.filter((a) => a.active).length;
  const appList = apps.data?.apps ?? [];
  const unhealthy = appList.filter((a) => a.tasksUnhealthy > 0).length;
  const underplaced = appList.filter((a) => a.tasksRunning < a.instances).length;

  return (
    <div className="page">
      <PageHead
        title="Overview"
        sub={
          state.data ? (
            <>
              Master {state.data.hostname} · up {ago(state.data.start_time * 1000).replace(' ago', '')}
            </>
          ) : (
            'Connecting to the master…'
          )
        }
      />
      <ErrorBox error={state.error} />
      <section className="cards">
        {capacity.map((c) => (
          <div className="card" key={c.label}>
            <h3>{c.label} allocated</h3>
            <Bar used={c.used} total={c.total} format={c.format} label={c.label} />
          </div>
        ))}
      </section>
      <ClusterUsage />
      <section className="cards">
        <Link to="/nodes" className="card stat">
          <div className="big" data-testid="agents-active">
            {active}
          </div>
          <div className="label">agents active{agents.length > active ? ` · ${agents.length - active} inactive` : ''}</div>
        </Link>
        <Link to="/services" className="card stat">
          <div className="big">{appList.length}</div>
          <div className="label">
            services · {(deployments.data ?? []).length} deploying{unhealthy > 0 ? ` · ${unhealthy} unhealthy` : ''}
            {underplaced > 0 ? ` · ${underplaced} under capacity` : ''}
          </div>
        </Link>
        <Link to="/tasks" className="card stat">
          <div className="big">{counts.get('TASK_RUNNING') ?? 0}</div>
          <div className="label">tasks running</div>
        </Link>
        <div className="card stat" title={(summary.data?.frameworks ?? []).map((f) => `${f.name}${f.active ? '' : ' (disconnected)'}`).join(', ')}>
          <div className="big">{summary.data?.frameworks.filter((f) => f.active).length ?? 0}</div>
          <div className="label">
            frameworks connected
            {(summary.data?.frameworks ?? []).length > 0
              ? `: ${(summary.data?.frameworks ?? [])
                  .filter((f) => f.active)
                  .map((f) => f.name)
                  .join(', ')}`
              : ''}
          </div>
        </div>
      </section>
      {attention.length > 0 ? (
        <section className="panel">
          <h2>Needs attention</h2>
          <table className="table compact" aria-label="Needs attention">
            <tbody>
              {attention.map(({ app, status, q }) => (
                <tr key={app.id}>
                  <td className="nowrap">
                    <Link to={`/services${app.id}`} className="mono">
                      {app.id}
                    </Link>
                  </td>
                  <td>
                    <Badge value={status} />
                  </td>
                  <td className="nowrap">
                    {app.tasksRunning} of {app.instances} running
                  </td>
                  <td className="reason-cell">
                    {q?.stoppedReason ??
                      q?.lastUnusedOffers?.[0]?.reason.join('; ') ??
                      (q && !q.delay.overdue ? `backing off, next launch in ${q.delay.timeLeftSeconds}s` : (app.lastTaskFailure?.message ?? ''))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      <div className="two-col">
        <section className="panel">
          <h2>Tasks by state</h2>
          <table className="table compact" aria-label="Tasks by state">
            <tbody>
              {SHOWN_STATES.map((s) => (
                <tr key={s}>
                  <td>
                    <Link to={`/tasks?state=${s}`}>{s.slice(5).toLowerCase()}</Link>
                  </td>
                  <td className="num">{counts.get(s) ?? 0}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="panel grow">
          <h2>Recent events</h2>
          {events.length === 0 ? (
            <div className="empty">No events since this page opened. Changes to services, tasks and agents appear here as they happen.</div>
          ) : (
            <table className="table compact events" aria-label="Recent events">
              <tbody>
                {events.slice(0, 40).map((e, i) => (
                  <tr key={`${e.at}-${i}`}>
                    <td className="muted nowrap">{new Date(e.at).toLocaleTimeString()}</td>
                    <td className="nowrap">
                      <span className={`src ${e.source}`}>{e.source === 'marathon' ? 'services' : 'master'}</span> {e.type}
                    </td>
                    <td className="mono ellipsis">{e.text}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </div>
  );
}
