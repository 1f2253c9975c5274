/** One service: its instances and where they run, health, why it is not placed, versions. */
import { useState } from 'react';
import { ApiError, appPath, request, type App, type MarathonTask, type QueueEntry } from '../api.ts';
import { Badge, ErrorBox, Grid, Modal, PageHead, ago, cpus, mib, type Column } from '../components.tsx';
import { hub, useResource } from '../live.ts';
import { notify } from '../notify.tsx';
import { Link } from '../router.tsx';
import { ServiceActions } from './ServiceActions.tsx';
import { AppDiscovery } from '../app-discovery.tsx';
import { appStatus } from './Services.tsx';
import { AppUsage } from '../usage.tsx';

function health(app: App, t: MarathonTask): string {
  if ((app.healthChecks?.length ?? 0) === 0) return '—';
  const r = t.healthCheckResults?.[0];
  return r === undefined ? 'Unknown' : r.alive ? 'Healthy' : 'Unhealthy';
}

/** Instances in a windowed grid: an app may have thousands. */
function instanceColumns(a: App): Column<MarathonTask>[] {
  return [
    {
      title: 'Task',
      width: 'minmax(200px, 3fr)',
      render: (t) => (
        <span className="mono ellipsis" title={t.id}>
          {t.id}
        </span>
      ),
    },
    { title: 'State', width: '90px', render: (t) => <Badge value={t.state} /> },
    { title: 'Health', width: '84px', render: (t) => (health(a, t) === '—' ? <span className="muted">—</span> : <Badge value={health(a, t)} />) },
    {
      title: 'Host',
      width: 'minmax(90px, 1fr)',
      render: (t) => (
        <Link to={`/nodes?q=${encodeURIComponent(t.agentId)}`} title={`Agent ${t.agentId}`} className="mono">
          {t.host}
        </Link>
      ),
    },
    { title: 'Ports', width: 'minmax(70px, 1fr)', render: (t) => <span className="mono">{t.ports.join(', ') || '—'}</span> },
    { title: 'Started', width: '80px', render: (t) => <span className="nowrap">{ago(t.startedAt ?? t.stagedAt)}</span> },
    {
      title: 'Version',
      width: 'minmax(80px, 1fr)',
      render: (t) => <span className="mono muted ellipsis">{t.version === a.version || t.version === a.versionInfo?.lastConfigChangeAt ? 'current' : t.version}</span>,
    },
    { title: '', width: '96px', render: (t) => <Link to={`/tasks?task=${encodeURIComponent(t.id)}`}>Logs &amp; files</Link> },
  ];
}

export function ServiceDetail({ id }: { id: string }) {
  const app = useResource<{ app: App }>(`${appPath(id)}?embed=app.tasks&embed=app.lastTaskFailure`, ['apps', 'tasks']);
  const queue = useResource<{ queue: QueueEntry[] }>('/v2/queue', ['queue']);
  const versions = useResource<{ versions: string[] }>(`${appPath(id)}/versions`, ['apps']);
  const [viewing, setViewing] = useState<{ version: string; body: unknown } | undefined>();

  const a = app.data?.app;
  const q = queue.data?.queue.find((x) => x.app?.id === id);
  if (!a) {
    return (
      <div className="page">
        <PageHead title={id} sub={<Link to="/services">← Services</Link>} />
        {app.error ? <ErrorBox error={app.error} /> : <div className="empty">Loading…</div>}
      </div>
    );
  }
  const tasks = [...(a.tasks ?? [])].sort((x, y) => x.id.localeCompare(y.id));

  const rollback = async (version: string) => {
    await request('PUT', appPath(id), { version })
      .then(() => notify(`Rolling ${id} back to ${version}`))
      .catch((e: unknown) => notify(`Rollback failed: ${e instanceof ApiError ? e.message : String(e)}`, 'bad'));
    hub.invalidate(['apps', 'deployments']);
  };
  const cancel = async (deploymentId: string) => {
    await request('DELETE', `/v2/deployments/${encodeURIComponent(deploymentId)}`)
      .then(() => notify('Deployment cancelled; rolling back'))
      .catch((e: unknown) => notify(`Cancel failed: ${e instanceof ApiError ? e.message : String(e)}`, 'bad'));
    hub.invalidate(['apps', 'deployments', 'queue']);
  };
  const view = async (version: string) => {
    const body = await request<unknown>('GET', `${appPath(id)}/versions/${encodeURIComponent(version)}`).catch((e: unknown) => ({ error: String(e) }));
    setViewing({ version, body });
  };

  return (
    <div className="page">
      <PageHead
        title={a.id}
        sub={
          <>
            <Link to="/services">Services</Link> ·{' '}
            <span data-testid="app-status">
              <Badge value={appStatus(a, q)} />
            </span>{' '}
            ·{' '}
            <span data-testid="instances-summary">
              {a.tasksRunning} of {a.instances} running
            </span>
            {(a.healthChecks?.length ?? 0) > 0 ? ` · ${a.tasksHealthy} healthy` : ''} · version {a.version}
          </>
        }
      >
        <ServiceActions app={a} />
      </PageHead>
      <section className="kv panel">
        <div>
          <span>Command</span>
          <code className="wrap">{a.cmd ?? ((a.args ?? []).join(' ') || (a.container?.docker?.image ? "the image's own" : ''))}</code>
        </div>
        {a.container?.docker?.image ? (
          <div>
            <span>Image</span>
            <code className="wrap">{a.container.docker.image}</code>
          </div>
        ) : null}
        <div>
          <span>Resources</span>
          <span>
            {cpus(a.cpus)} CPU · {mib(a.mem)} mem · {mib(a.disk)} disk · {(a.portDefinitions ?? []).length} ports
          </span>
        </div>
        <div>
          <span>Constraints</span>
          {(a.constraints ?? []).length === 0 ? <span className="muted">none</span> : <span className="mono">{(a.constraints ?? []).map((c) => c.join(':')).join(', ')}</span>}
        </div>
        <div>
          <span>Health checks</span>
          {(a.healthChecks ?? []).length === 0 ? (
            <span className="muted">none</span>
          ) : (
            (a.healthChecks ?? [])
              .map((h) => `${String(h['protocol'] ?? 'HTTP')} ${h['path'] !== undefined ? String(h['path']) : h['command'] !== undefined ? JSON.stringify(h['command']) : ''}`)
              .join(', ')
          )}
        </div>
      </section>

      {q && q.count > 0 ? (
        <section className="panel warn-panel" aria-label="Placement">
          <h2>
            Why {q.count} instance{q.count === 1 ? ' is' : 's are'} not placed
          </h2>
          {q.launchStopped ? <div className="alert bad">Launching stopped: {q.stoppedReason}</div> : null}
          {q.waitingForDependency ? <div className="alert warn">Waiting for dependency {q.waitingForDependency}</div> : null}
          {!q.delay.overdue ? <div className="alert warn">Backing off after failures: next launch in {q.delay.timeLeftSeconds}s</div> : null}
          {(q.lastUnusedOffers ?? []).length === 0 ? (
            <div className="muted">No offer declined yet{q.delay.overdue ? ' — waiting for resources to be offered.' : '.'}</div>
          ) : (
            <table className="table compact" aria-label="Declined offers">
              <thead>
                <tr>
                  <th>Agent</th>
                  <th>Reason</th>
                  <th>When</th>
                </tr>
              </thead>
              <tbody>
                {(q.lastUnusedOffers ?? []).slice(0, 100).map((o) => (
                  <tr key={o.agentId}>
                    <td className="mono">{o.hostname}</td>
                    <td className="reason">{o.reason.join('; ')}</td>
                    <td className="muted nowrap">{ago(o.timestamp)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {(q.lastUnusedOffers ?? []).length > 100 ? <div className="muted small">…and {(q.lastUnusedOffers ?? []).length - 100} more agents declined.</div> : null}
        </section>
      ) : null}

      {a.deployments.length > 0 ? (
        <div className="alert info-alert">
          Deploying: {a.tasksRunning} of {a.instances} instances running.{' '}
          {a.deployments.map((d) => (
            <button type="button" key={d.id} className="small" title={`Deployment ${d.id}: roll back to the previous definition`} onClick={() => void cancel(d.id)}>
              Cancel deployment
            </button>
          ))}
        </div>
      ) : null}

      {a.lastTaskFailure ? (
        <div className="alert bad">
          Last failure {ago(a.lastTaskFailure.timestamp)}: <Badge value={a.lastTaskFailure.state} /> {a.lastTaskFailure.message}
        </div>
      ) : null}

      <AppDiscovery app={a} />

      <section className="panel">
        <h2>Instances</h2>
        {tasks.length === 0 ? (
          <div className="empty">No instances.</div>
        ) : (
          <Grid label="Instances" rows={tasks} columns={instanceColumns(a)} rowKey={(t) => t.id} height={Math.min(440, 40 + tasks.length * 36)} rowHeight={36} />
        )}
      </section>

      <AppUsage appId={id} />

      <section className="panel">
        <h2>Versions</h2>
        <table className="table compact" aria-label="Versions">
          <tbody>
            {(versions.data?.versions ?? []).slice(0, 50).map((v) => (
              <tr key={v}>
                <td className="mono">{v}</td>
                <td className="muted">{ago(v)}</td>
                <td>
                  {v === a.version ? (
                    <span className="badge ok">current</span>
                  ) : v === a.versionInfo?.lastConfigChangeAt ? (
                    <span className="badge muted" title="The newest configuration; later versions only scaled">
                      current config
                    </span>
                  ) : null}
                </td>
                <td className="right">
                  <button type="button" className="small" onClick={() => void view(v)}>
                    View
                  </button>{' '}
                  {v !== a.version ? (
                    <button type="button" className="small" onClick={() => void rollback(v)}>
                      Roll back
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {viewing ? (
        <Modal title={`${id} @ ${viewing.version}`} onClose={() => setViewing(undefined)} wide>
          <pre className="code">{JSON.stringify(viewing.body, null, 2)}</pre>
        </Modal>
      ) : null}
    </div>
  );
}
