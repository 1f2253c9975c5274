/**
 * Jobs (Metronome `/v1/jobs`): schedules, active runs, history with durations and outcomes, and
 * "Run now" (`POST /v1/jobs/{id}/runs`).
 */
import { useMemo, useState } from 'react';
import { ApiError, jobPath, request, type Job, type JobRun } from '../api.ts';
import { Badge, ErrorBox, Grid, PageHead, ago, duration, type Column } from '../components.tsx';
import { hub, useResource } from '../live.ts';
import { notify } from '../notify.tsx';
import { Link, navigate } from '../router.tsx';
import { JobForm } from './JobForm.tsx';
import { useConfirm } from '../confirm.tsx';

const EMBED = 'embed=activeRuns&embed=history&embed=historySummary';

function lastOutcome(job: Job): { status: string; at: string | null } {
  const h = job.history ?? job.historySummary;
  if (!h) return { status: '—', at: null };
  const s = h.lastSuccessAt ? Date.parse(h.lastSuccessAt) : 0;
  const f = h.lastFailureAt ? Date.parse(h.lastFailureAt) : 0;
  if (s === 0 && f === 0) return { status: 'never run', at: null };
  return s >= f ? { status: 'SUCCESS', at: h.lastSuccessAt } : { status: 'FAILED', at: h.lastFailureAt };
}

const finished = (r: JobRun): string | null | undefined => r.finishedAt ?? r.completedAt;
const runSeconds = (r: JobRun): number => ((finished(r) ? Date.parse(finished(r)!) : Date.now()) - Date.parse(r.createdAt)) / 1000;

async function runNow(id: string): Promise<void> {
  await request<JobRun>('POST', `${jobPath(id)}/runs`, {})
    .then((r) => notify(`Started run ${r.id} of ${id}`))
    .catch((e: unknown) => notify(`Run failed to start: ${e instanceof ApiError ? `${e.status} ${e.message}` : String(e)}`, 'bad'));
  hub.invalidate(['jobs']);
}

async function stopRun(id: string, runId: string): Promise<void> {
  await request('POST', `${jobPath(id)}/runs/${encodeURIComponent(runId)}/actions/stop`, {})
    .then(() => notify(`Stopping run ${runId}`))
    .catch((e: unknown) => notify(`Stop failed: ${e instanceof ApiError ? `${e.status} ${e.message}` : String(e)}`, 'bad'));
  hub.invalidate(['jobs']);
}

export function Jobs({ selected }: { selected: string | undefined }) {
  const jobs = useResource<Job[]>(`/v1/jobs?${EMBED}`, ['jobs']);
  const list = useMemo(() => [...(jobs.data ?? [])].sort((a, b) => a.id.localeCompare(b.id)), [jobs.data]);
  const notRunning = jobs.error instanceof ApiError && jobs.error.status === 404;
  const [creating, setCreating] = useState(false);

  const columns: Column<Job>[] = [
    {
      title: 'Job',
      width: 'minmax(120px, 2fr)',
      render: (j) => (
        <Link to={`/jobs/${encodeURIComponent(j.id)}`} className="mono strong">
          {j.id}
        </Link>
      ),
    },
    {
      title: 'Schedule',
      width: 'minmax(100px, 1fr)',
      render: (j) =>
        j.schedules?.[0] ? (
          <span className="mono" title={j.schedules[0].timezone ?? 'UTC'}>
            {j.schedules[0].cron}
            {j.schedules[0].enabled === false ? ' (off)' : ''}
          </span>
        ) : (
          <span className="muted">{(j.dependencies ?? []).length > 0 ? `after ${j.dependencies!.map((d) => d.id).join(', ')}` : 'manual'}</span>
        ),
    },
    { title: 'Active', width: '52px', align: 'right', render: (j) => (j.activeRuns ?? []).length },
    {
      title: 'Last run',
      width: '136px',
      render: (j) => {
        const o = lastOutcome(j);
        return o.at ? (
          <>
            <Badge value={o.status} /> <span className="muted">{ago(o.at)}</span>
          </>
        ) : (
          <span className="muted">{o.status}</span>
        );
      },
    },
    {
      title: 'OK / failed',
      width: '76px',
      align: 'right',
      render: (j) => {
        const h = j.history ?? j.historySummary;
        return h ? `${h.successCount} / ${h.failureCount}` : '—';
      },
    },
    {
      title: '',
      width: '78px',
      render: (j) => (
        <button
          type="button"
          className="small"
          onClick={(e) => {
            e.stopPropagation();
            void runNow(j.id);
          }}
        >
          Run now
        </button>
      ),
    },
  ];

  const job = list.find((j) => j.id === selected);
  return (
    <div className="page fill">
      <PageHead title="Jobs" sub={`${list.length} jobs · ${list.reduce((s, j) => s + (j.activeRuns ?? []).length, 0)} runs active`}>
        <button type="button" className="primary" disabled={notRunning} onClick={() => setCreating(true)}>
          Create job
        </button>
      </PageHead>
      {notRunning ? (
        <div className="alert warn">
          The jobs framework is not running on this master (<code>/v1/jobs</code> answered 404).
        </div>
      ) : (
        <ErrorBox error={jobs.error} />
      )}
      <div className={job ? 'split' : 'split single'}>
        <Grid
          label="Jobs"
          rows={list}
          columns={columns}
          rowKey={(j) => j.id}
          selected={selected}
          onRowClick={(j) => navigate(`/jobs/${encodeURIComponent(j.id)}`)}
          empty={jobs.loading ? 'Loading…' : notRunning ? 'No jobs framework, no jobs.' : 'No jobs yet. Create them with POST /v1/jobs (Metronome job spec).'}
        />
        {job ? <JobPanel job={job} /> : null}
      </div>
      {creating ? <JobForm onClose={() => setCreating(false)} /> : null}
    </div>
  );
}

function JobPanel({ job }: { job: Job }) {
  const [dialog, ask] = useConfirm();
  const runs = [...(job.history?.successfulFinishedRuns ?? []).map((r) => ({ ...r, status: 'SUCCESS' })), ...(job.history?.failedFinishedRuns ?? []).map((r) => ({ ...r, status: 'FAILED' }))].sort(
    (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt),
  );
  const active = job.activeRuns ?? [];
  return (
    <aside className="task-panel" aria-label="Job">
      <div className="panel-head">
        <div>
          <div className="mono strong">{job.id}</div>
          <div className="muted small">{job.description || 'No description'}</div>
        </div>
        <div className="row-actions">
          <button type="button" className="primary small" onClick={() => void runNow(job.id)}>
            Run now
          </button>
          <button type="button" className="icon" aria-label="Close job" onClick={() => navigate('/jobs')}>
            ×
          </button>
        </div>
      </div>
      <div className="panel-body">
        <div className="kv">
          <div>
            <span>Command</span>
            <code className="wrap">{job.run.cmd ?? '—'}</code>
          </div>
          {(job.run.docker?.image ?? job.run.ucr?.image.id) ? (
            <div>
              <span>Image</span>
              <code className="wrap">{job.run.docker?.image ?? job.run.ucr?.image.id}</code>
            </div>
          ) : null}
          <div>
            <span>Resources</span>
            <span>
              {job.run.cpus} CPU · {job.run.mem} MiB mem · {job.run.disk} MiB disk
            </span>
          </div>
          {(job.dependencies ?? []).length > 0 ? (
            <div>
              <span>Runs after</span>
              <span className="mono">{job.dependencies!.map((d) => d.id).join(', ')}</span>
            </div>
          ) : null}
          {(job.schedules ?? []).map((s) => (
            <div key={s.id}>
              <span>Schedule {s.id}</span>
              <span>
                <code>{s.cron}</code> {s.timezone ?? 'UTC'} · {s.concurrencyPolicy ?? 'ALLOW'}
                {s.enabled === false ? ' · disabled' : ''}
                {s.nextRunAt ? ` · next run ${ago(s.nextRunAt)}` : ''}
              </span>
            </div>
          ))}
        </div>
        {dialog}
        <h3>Active runs</h3>
        {active.length === 0 ? (
          <div className="muted">None.</div>
        ) : (
          <table className="table compact" aria-label="Active runs">
            <tbody>
              {active.map((r) => (
                <tr key={r.id}>
                  <td className="mono">{r.id}</td>
                  <td>
                    <Badge value={r.status} />
                  </td>
                  <td className="muted">running {duration(runSeconds(r))}</td>
                  <td>
                    <RunLogs run={r} />
                  </td>
                  <td className="right">
                    <button type="button" className="small danger" onClick={() => ask(`Stop run ${r.id}?`, 'Its task is killed; the run ends as failed.', 'Stop run', () => stopRun(job.id, r.id))}>
                      Stop
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <h3>History</h3>
        {runs.length === 0 ? (
          <div className="muted">No finished runs yet.</div>
        ) : (
          <table className="table compact" aria-label="Run history">
            <thead>
              <tr>
                <th>Run</th>
                <th>Outcome</th>
                <th>Started</th>
                <th className="num">Duration</th>
                <th>Logs</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <tr key={r.id}>
                  <td className="mono">{r.id}</td>
                  <td>
                    <Badge value={r.status} />
                  </td>
                  <td className="muted nowrap">{new Date(r.createdAt).toLocaleString()}</td>
                  <td className="num">{duration(runSeconds(r))}</td>
                  <td>
                    <RunLogs run={r} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {(job.history?.skippedRuns ?? []).length > 0 ? (
          <>
            <h3>Skipped ticks</h3>
            <table className="table compact" aria-label="Skipped ticks">
              <tbody>
                {(job.history?.skippedRuns ?? []).map((r, i) => (
                  <tr key={`${r.skippedAt}-${i}`}>
                    <td className="muted nowrap">{new Date(r.scheduledAt ?? r.skippedAt).toLocaleString()}</td>
                    <td className="reason">{r.reason}</td>
                    <td className="num">{r.count && r.count > 1 ? `×${r.count}` : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
      </div>
    </aside>
  );
}

/**
 * A run's logs: its task's stdout and stderr on the Tasks page (the sandbox, through the master's
 * relay). Active runs list their tasks as objects, finished ones (Metronome's history) as ids.
 */
function RunLogs({ run }: { run: JobRun }) {
  const tasks = (run.tasks ?? []) as Array<string | { id: string }>;
  const last = tasks[tasks.length - 1];
  const id = typeof last === 'string' ? last : last?.id;
  if (id === undefined) return <span className="muted">—</span>;
  return (
    <Link to={`/tasks?task=${encodeURIComponent(id)}`} title={id}>
      Logs
    </Link>
  );
}
