/**
 * One node: its hostname (the id is secondary), status and drain state, resources as bars,
 * attributes, usage over time (CPU and memory of its tasks, from the agent's cgroup samples) and
 * the tasks it runs, each with sparklines. Drain and reactivate, with a confirmation.
 */
import { num, rangeCount, type MasterState, type MesosTask } from '../api.ts';
import { Badge, Bar, ErrorBox, PageHead, ago, cpus, mib } from '../components.tsx';
import { useConfirm } from '../confirm.tsx';
import { useResource } from '../live.ts';
import { Link } from '../router.tsx';
import { bytes, TaskUsageTable, UsageChart, useUsage } from '../usage.tsx';
import { attributes, maintain, nodeStatus } from './Nodes.tsx';

export function NodeDetail({ id }: { id: string }) {
  const state = useResource<MasterState>('/master/state?limit=0', ['agents']);
  const tasks = useResource<{ tasks: MesosTask[] }>(`/master/tasks?agent_id=${encodeURIComponent(id)}&completed=false&limit=500`, ['tasks']);
  const usage = useUsage(`agent=${encodeURIComponent(id)}`);
  const [dialog, ask] = useConfirm();
  const agent = state.data?.slaves.find((a) => a.id === id);
  if (agent === undefined) {
    return (
      <div className="page">
        <PageHead title="Node" sub={<Link to="/nodes">All nodes</Link>} />
        <ErrorBox error={state.error} />
        <p className="muted">{state.loading ? 'Loading…' : `No agent ${id} is registered.`}</p>
      </div>
    );
  }
  const series = usage.data?.agents.find((a) => a.id === id)?.series;
  const status = nodeStatus(agent);
  const running = tasks.data?.tasks ?? [];
  return (
    <div className="page">
      <PageHead
        title={agent.hostname}
        sub={
          <>
            <Link to="/nodes">Nodes</Link> · <Badge value={status} /> · port {agent.port} · registered {ago(agent.registered_time * 1000)} ·{' '}
            <span className="mono small muted" title="Agent id">
              {agent.id}
            </span>
          </>
        }
      >
        <button
          type="button"
          className="danger"
          disabled={agent.drain_info !== undefined}
          onClick={() =>
            ask(`Drain ${agent.hostname}?`, `${agent.hostname} stops receiving offers and its ${running.length} running task(s) are killed; their schedulers place them elsewhere.`, 'Drain', () =>
              maintain(agent, 'DRAIN_AGENT'),
            )
          }
        >
          Drain
        </button>
        <button type="button" disabled={!agent.deactivated} onClick={() => void maintain(agent, 'REACTIVATE_AGENT')}>
          Reactivate
        </button>
      </PageHead>
      {dialog}
      {agent.drain_info ? <div className="alert warn">This node is {agent.drain_info.state.toLowerCase()}: no new tasks are placed on it.</div> : null}
      <div className="cols">
        <section className="panel" aria-label="Resources">
          <h2>Resources</h2>
          <dl className="kv">
            <dt>CPU</dt>
            <dd>
              <Bar used={num(agent.used_resources, 'cpus')} total={num(agent.resources, 'cpus')} format={cpus} label="CPU" />
            </dd>
            <dt>Memory</dt>
            <dd>
              <Bar used={num(agent.used_resources, 'mem')} total={num(agent.resources, 'mem')} format={mib} label="Memory" />
            </dd>
            <dt>Disk</dt>
            <dd>
              <Bar used={num(agent.used_resources, 'disk')} total={num(agent.resources, 'disk')} format={mib} label="Disk" />
            </dd>
            <dt>Ports</dt>
            <dd>
              <Bar used={rangeCount(agent.used_resources)} total={rangeCount(agent.resources)} format={(n) => String(n)} label="Ports" />
            </dd>
          </dl>
        </section>
        <section className="panel" aria-label="Attributes">
          <h2>Attributes</h2>
          {attributes(agent) === '' ? (
            <p className="muted">None. Set them with `drover agent --attributes 'rack:r1;zone:a'`.</p>
          ) : (
            <dl className="kv">
              {Object.entries(agent.attributes).map(([k, v]) => (
                <div key={k} className="kv-row">
                  <dt>{k}</dt>
                  <dd className="mono">{Array.isArray(v) ? JSON.stringify(v) : String(v)}</dd>
                </div>
              ))}
            </dl>
          )}
        </section>
      </div>
      <section className="panel" aria-label="Node usage">
        <h2>Usage of its tasks</h2>
        <ErrorBox error={usage.error} />
        {series === undefined || series.t.length === 0 ? (
          <p className="muted">No usage reported yet: the agent measures its running tasks every few seconds.</p>
        ) : (
          <div className="charts">
            <UsageChart title="CPU" testId="node-cpu-chart" t={series.t} lines={[{ label: 'cores used', values: series['cpus'] ?? [] }]} format={cpus} />
            <UsageChart title="Memory" testId="node-mem-chart" t={series.t} lines={[{ label: 'memory', values: series['mem'] ?? [] }]} format={bytes} />
          </div>
        )}
        <TaskUsageTable tasks={usage.data?.tasks ?? []} showApp />
      </section>
      <section className="panel" aria-label="Tasks on this node">
        <h2>Tasks ({running.length})</h2>
        <ErrorBox error={tasks.error} />
        {running.length === 0 ? (
          <p className="muted">No tasks run here.</p>
        ) : (
          <table className="usage-table">
            <thead>
              <tr>
                <th>Task</th>
                <th>State</th>
                <th>Started</th>
              </tr>
            </thead>
            <tbody>
              {running.map((t) => (
                <tr key={t.id}>
                  <td className="mono ellipsis" title={t.id}>
                    <Link to={`/tasks?task=${encodeURIComponent(t.id)}`}>{t.name || t.id}</Link>
                  </td>
                  <td>
                    <Badge value={t.state} />
                  </td>
                  <td className="muted">{ago(taskStarted(t))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function taskStarted(t: MesosTask): number | undefined {
  const first = t.statuses?.[0]?.timestamp;
  return first === undefined ? undefined : first * 1000;
}
