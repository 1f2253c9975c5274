/**
 * Metronome's `/v1` REST API over the jobs framework: jobs, schedules, runs (with Drover's
 * `actions/success`), the launch queue. Error bodies keep Metronome's shapes
 * (`{"message":"Object is not valid","details":[{"path":"/run/cpus","errors":[…]}]}` with 422,
 * `{"message":"Job 'x' does not exist"}` with 404); a refused request changes nothing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DroverError } from '../../errors/errors.ts';
import { chronosId, fromChronos } from './chronos.ts';
import { chronosName, currentState, graphCsv, graphDot, jobStat, lastStatus, MAX_SEARCH_LIMIT, PERCENTILES, searchJobs, statsAt, toChronos, type GraphNode } from './chronos-read.ts';
import { historyJson, historySummaryJson } from './history.ts';
import { invalid, jobJson, nextTick, parseJob, parseSchedule, type Job, type Schedule } from './job.ts';
import { JOB_ID } from './job-schema.ts';
import type { JobsFramework } from './jobs.ts';
import { metronomeTime, runJson } from './run.ts';

type Query = Record<string, string | string[] | undefined>;
type Params = { id: string; scheduleId?: string; runId?: string };

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(',')));
const flag = (q: Query, name: string): boolean => q[name] === 'true' || q[name] === '';

export function registerJobsRoutes(app: FastifyInstance, jobs: JobsFramework): void {
  const scheduleJson = (job: Job, s: Schedule): Record<string, unknown> => {
    const cursor = jobs.cursorOf(job.id, s.id);
    const next = s.enabled ? nextTick(s, Math.max(jobs.now(), cursor?.cursor ?? 0), cursor?.storedAt ?? jobs.now()) : undefined;
    return { ...s, ...(next === undefined ? {} : { nextRunAt: metronomeTime(next) }) };
  };

  const withEmbeds = (job: Job, embed: string[]): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...jobJson(job), schedules: job.schedules.map((s) => scheduleJson(job, s)) };
    if (embed.includes('activeRuns')) out['activeRuns'] = jobs.activeRuns(job.id).map(runJson);
    if (embed.includes('history')) out['history'] = historyJson(jobs.history(job.id));
    if (embed.includes('historySummary')) out['historySummary'] = historySummaryJson(jobs.history(job.id));
    return out;
  };

  const jobId = (request: FastifyRequest): string => {
    const { id } = request.params as Params;
    if (!JOB_ID.test(id)) throw new DroverError('NOT_FOUND', `Job '${id}' does not exist`);
    return id;
  };

  /** A job with one schedule replaced, added or removed, checked like a whole job. */
  const withSchedules = (job: Job, schedules: Schedule[]): Job => {
    try {
      return parseJob({ ...jobJson(job), schedules }, jobs.now());
    } catch (e) {
      // Paths are relative to the schedule body on the schedules endpoints.
      if (e instanceof DroverError) throw invalid(e.details.map((d) => ({ ...d, path: d.path.replace(/^\/schedules\/\d+/, '') || '/' })));
      throw e;
    }
  };

  app.get('/v1/jobs', async (request) => {
    const embed = list((request.query as Query)['embed']);
    return [...jobs.jobs.values()].sort((a, b) => a.id.localeCompare(b.id)).map((j) => withEmbeds(j, embed));
  });

  app.post('/v1/jobs', async (request, reply) => {
    const job = await jobs.putJob(parseJob(request.body, jobs.now()), true);
    return reply.status(201).send(withEmbeds(job, []));
  });

  // Metronome's legacy form: a job with its schedules embedded (the /v1 body accepts them too).
  app.post('/v0/scheduled-jobs', async (request, reply) => {
    const job = await jobs.putJob(parseJob(request.body, jobs.now()), true);
    return reply.status(201).send(withEmbeds(job, []));
  });
  app.put('/v0/scheduled-jobs/:id', async (request) => {
    const id = jobId(request);
    jobs.job(id);
    const body = request.body;
    return withEmbeds(await jobs.putJob(parseJob(body && typeof body === 'object' && !Array.isArray(body) ? { ...body, id } : body, jobs.now()), false), []);
  });

  app.get('/v1/jobs/:id', async (request) => withEmbeds(jobs.job(jobId(request)), list((request.query as Query)['embed'])));

  app.put('/v1/jobs/:id', async (request) => {
    const id = jobId(request);
    jobs.job(id);
    const body = request.body as Record<string, unknown> | null;
    if (body && typeof body === 'object' && !Array.isArray(body) && body['id'] !== undefined && body['id'] !== id) {
      throw invalid([{ path: '/id', errors: [`the id in the body ('${String(body['id'])}') must be the job's id ('${id}')`] }]);
    }
    const parsed = parseJob(body && typeof body === 'object' && !Array.isArray(body) ? { ...body, id } : body, jobs.now());
    return withEmbeds(await jobs.putJob(parsed, false), []);
  });

  app.delete('/v1/jobs/:id', async (request) => {
    const job = await jobs.deleteJob(jobId(request), flag(request.query as Query, 'stopCurrentJobRuns'));
    return jobJson(job);
  });

  // ---- schedules ----------------------------------------------------------------------------

  const schedule = (job: Job, scheduleId: string): Schedule => {
    const found = job.schedules.find((s) => s.id === scheduleId);
    if (!found) throw new DroverError('NOT_FOUND', `Schedule '${scheduleId}' of job '${job.id}' does not exist`);
    return found;
  };

  app.get('/v1/jobs/:id/schedules', async (request) => {
    const job = jobs.job(jobId(request));
    return job.schedules.map((s) => scheduleJson(job, s));
  });

  app.post('/v1/jobs/:id/schedules', async (request, reply) => {
    const job = jobs.job(jobId(request));
    const s = parseSchedule(request.body, jobs.now());
    if (job.schedules.some((x) => x.id === s.id)) throw new DroverError('CONFLICT', `Schedule '${s.id}' of job '${job.id}' already exists`);
    const next = await jobs.putJob(withSchedules(job, [...job.schedules, s]), false);
    return reply.status(201).send(scheduleJson(next, schedule(next, s.id)));
  });

  app.get('/v1/jobs/:id/schedules/:scheduleId', async (request) => {
    const job = jobs.job(jobId(request));
    return scheduleJson(job, schedule(job, (request.params as Params).scheduleId ?? ''));
  });

  app.put('/v1/jobs/:id/schedules/:scheduleId', async (request) => {
    const job = jobs.job(jobId(request));
    const scheduleId = (request.params as Params).scheduleId ?? '';
    schedule(job, scheduleId);
    const body = request.body as Record<string, unknown> | null;
    const s = parseSchedule(body && typeof body === 'object' && !Array.isArray(body) ? { ...body, id: body['id'] ?? scheduleId } : body, jobs.now());
    if (s.id !== scheduleId) throw invalid([{ path: '/id', errors: [`the id in the body ('${s.id}') must be the schedule's id ('${scheduleId}')`] }]);
    const next = await jobs.putJob(
      withSchedules(
        job,
        job.schedules.map((x) => (x.id === scheduleId ? s : x)),
      ),
      false,
    );
    return scheduleJson(next, schedule(next, scheduleId));
  });

  app.delete('/v1/jobs/:id/schedules/:scheduleId', async (request) => {
    const job = jobs.job(jobId(request));
    const scheduleId = (request.params as Params).scheduleId ?? '';
    const removed = schedule(job, scheduleId);
    await jobs.putJob(
      withSchedules(
        job,
        job.schedules.filter((x) => x.id !== scheduleId),
      ),
      false,
    );
    return removed;
  });

  // ---- runs ---------------------------------------------------------------------------------

  app.get('/v1/jobs/:id/runs', async (request) => {
    const id = jobId(request);
    jobs.job(id);
    return jobs.activeRuns(id).map(runJson);
  });

  app.post('/v1/jobs/:id/runs', async (request, reply) => reply.status(201).send(runJson(await jobs.runNow(jobId(request)))));

  app.get('/v1/jobs/:id/runs/:runId', async (request) => runJson(jobs.run(jobId(request), (request.params as Params).runId ?? '')));

  app.post('/v1/jobs/:id/runs/:runId/actions/stop', async (request) => runJson(await jobs.stopRun(jobId(request), (request.params as Params).runId ?? '')));

  app.post('/v1/jobs/:id/runs/:runId/actions/success', async (request) => runJson(await jobs.markSuccess(jobId(request), (request.params as Params).runId ?? '')));

  app.get('/v1/queue', async () =>
    [...jobs.jobs.values()].flatMap((job) => {
      const waiting = jobs.activeRuns(job.id).filter((r) => r.status === 'INITIAL');
      if (waiting.length === 0) return [];
      const rejections = [...(jobs.launcher.rejections.get(job.id)?.values() ?? [])];
      return [
        {
          jobId: job.id,
          runs: waiting.map((r) => ({ runId: r.id })),
          // Drover addition: why recent offers were not used (every rejection has a reason).
          lastUnusedOffers: rejections.map((r) => ({ agentId: r.agentId, hostname: r.hostname, reason: [r.reason], timestamp: metronomeTime(r.at) })),
        },
      ];
    }),
  );

  // ---- Chronos' job API (create/update and run now), over the same jobs ---------------------

  const chronosPut = async (request: FastifyRequest, reply: FastifyReply) => {
    const job = parseJob(fromChronos(request.body), jobs.now());
    await jobs.putJob(job, !jobs.jobs.has(job.id));
    return reply.status(204).send();
  };
  app.post('/v1/scheduler/iso8601', chronosPut);
  app.post('/v1/scheduler/dependency', chronosPut);
  // Chronos' job/success: the job's latest run that is not yet a success counts as one (its dependents follow).
  app.put('/v1/scheduler/job/success/:name', async (request, reply) => {
    const id = chronosId((request.params as { name: string }).name);
    const latest = jobs.runsOf(jobs.job(id).id).find((r) => r.status !== 'SUCCESS');
    if (!latest) throw new DroverError('NOT_FOUND', `Job '${id}' has no run to mark successful`);
    await jobs.markSuccess(id, latest.id);
    return reply.status(204).send();
  });
  app.put('/v1/scheduler/job/:name', async (request, reply) => {
    await jobs.runNow(chronosId((request.params as { name: string }).name));
    return reply.status(204).send();
  });

  // ---- Chronos' read side: jobs by the names they were posted with ----------------------------

  const sortedJobs = (): Job[] => [...jobs.jobs.values()].sort((a, b) => a.id.localeCompare(b.id));
  const nameOf = (id: string): string => {
    const job = jobs.jobs.get(id);
    return job ? chronosName(job) : id;
  };
  /** The job a Chronos name names: the one posted with it, else the one with that id. */
  const byName = (request: FastifyRequest): Job => {
    const name = (request.params as { name: string }).name;
    const found = name.length <= 255 ? (sortedJobs().find((j) => j.labels['chronos.name'] === name) ?? jobs.jobs.get(chronosId(name))) : undefined;
    if (!found) throw new DroverError('NOT_FOUND', `Job '${name}' does not exist`);
    return found;
  };
  const chronosJobs = (): Array<Record<string, unknown>> => sortedJobs().map((j) => toChronos(j, jobs.history(j.id), nameOf));
  const graph = (): GraphNode[] =>
    sortedJobs().map((j) => ({ name: chronosName(j), parents: j.dependencies.map((d) => nameOf(d.id)), status: lastStatus(jobs.history(j.id)), state: currentState(jobs.activeRuns(j.id)) }));
  const count = (q: Query, name: string, fallback: number, max: number): number => {
    const raw = q[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > max) throw invalid([{ path: `/${name}`, errors: [`must be an integer from 0 to ${max}`] }]);
    return n;
  };
  const term = (q: Query, name: string): string | undefined => {
    const v = q[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length > 255) throw invalid([{ path: `/${name}`, errors: ['must be one search term of at most 255 characters'] }]);
    return v;
  };

  app.get('/v1/scheduler/jobs', async () => chronosJobs());
  app.get('/v1/scheduler/jobs/summary', async () => {
    const full = chronosJobs();
    return {
      jobs: graph().map((n, i) => ({ name: n.name, status: n.status, state: n.state, schedule: full[i]!['schedule'] ?? '', parents: full[i]!['parents'] ?? [], disabled: full[i]!['disabled'] })),
    };
  });
  app.get('/v1/scheduler/jobs/search', async (request) => {
    const q = request.query as Query;
    const search = { limit: count(q, 'limit', 10, MAX_SEARCH_LIMIT), offset: count(q, 'offset', 0, Number.MAX_SAFE_INTEGER) };
    const [name, command, any] = [term(q, 'name'), term(q, 'command'), term(q, 'any')];
    return searchJobs(chronosJobs(), { ...search, ...(name === undefined ? {} : { name }), ...(command === undefined ? {} : { command }), ...(any === undefined ? {} : { any }) });
  });
  app.get('/v1/scheduler/graph/dot', async (_request, reply) => reply.type('text/plain').send(graphDot(graph())));
  app.get('/v1/scheduler/graph/csv', async (_request, reply) => reply.type('text/plain').send(graphCsv(graph())));
  app.get('/v1/scheduler/job/stat/:name', async (request) => jobStat(jobs.history(byName(request).id)));
  app.get('/v1/scheduler/stats/:percentile', async (request) => {
    const { percentile } = request.params as { percentile: string };
    if (percentile !== 'mean' && !Object.hasOwn(PERCENTILES, percentile))
      throw new DroverError('NOT_FOUND', `Unknown percentile '${percentile.slice(0, 64)}': one of mean, ${Object.keys(PERCENTILES).join(', ')}`);
    return statsAt(
      percentile as keyof typeof PERCENTILES | 'mean',
      sortedJobs().map((j) => ({ name: chronosName(j), history: jobs.history(j.id) })),
    );
  });
  // Chronos deletes a job with its running tasks.
  app.delete('/v1/scheduler/job/:name', async (request, reply) => {
    await jobs.deleteJob(byName(request).id, true);
    return reply.status(204).send();
  });
  app.delete('/v1/scheduler/task/kill/:name', async (request, reply) => {
    const job = byName(request);
    for (const run of jobs.activeRuns(job.id)) await jobs.stopRun(job.id, run.id);
    return reply.status(204).send();
  });

  // ---- Metronome's operations endpoints ----------------------------------------------------------

  // Metronome's `/info` (general/examples/info.json): its version and the Marathon library's.
  app.get('/info', async () => ({ version: '0.6.0', libVersion: '1.10.0' }));
  app.get('/leader', async (request) => ({ leader: request.headers.host ?? `localhost:${request.socket.localPort}` }));
  // Metronome's `/v1/metrics` is a Dropwizard registry dump: these are the jobs framework's figures.
  app.get('/v1/metrics', async () => {
    const all = [...jobs.jobs.values()];
    const histories = all.map((j) => jobs.history(j.id));
    const runs = all.flatMap((j) => jobs.activeRuns(j.id));
    const gauge = (value: number) => ({ value });
    const counter = (count: number) => ({ count });
    return {
      version: '4.0.0',
      gauges: {
        'jobs.count': gauge(all.length),
        'runs.active': gauge(runs.length),
        'runs.queued': gauge(runs.filter((r) => r.status === 'INITIAL').length),
        'runs.running': gauge(runs.filter((r) => r.status === 'ACTIVE').length),
      },
      counters: {
        'runs.succeeded': counter(histories.reduce((n, h) => n + h.successCount, 0)),
        'runs.failed': counter(histories.reduce((n, h) => n + h.failureCount, 0)),
      },
      histograms: {},
      meters: {},
      timers: {},
    };
  });
}
