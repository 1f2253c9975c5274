/**
 * The `soak` scenario: the real master process under churn and API load for a long time, its
 * memory sampled all along. Churn: apps created, scaled and deleted; tasks that end after a few
 * seconds (failed or finished) and are replaced; jobs created, run and deleted. API load: GETs of
 * /v2/apps, /v2/tasks and /master/state, and /v2/events clients that connect, read a while and
 * leave. Every `sampleSeconds` the runner records the master's RSS (/proc/PID/status VmRSS) and
 * heap in use (the master's drover_process_heap_used_bytes metric).
 *
 * The summary is the curve's shape — start, min, max, end, and the slope (least squares, MB per
 * hour) of the samples after the warm-up — and the full curve. A flat memory curve has a slope
 * near 0; a leak shows as a steady positive slope whatever the noise of the garbage collector.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MasterProcess } from './master-process.ts';
import { startFleets, type Fleets } from './fleets.ts';
import type { Scenario } from './scenario.ts';
import type { RunOptions } from './launch-scenario.ts';

export interface SoakSample {
  /** Seconds since the load started. */
  t: number;
  rssMb: number;
  heapUsedMb: number;
}

export interface CurveSummary {
  startMb: number;
  minMb: number;
  maxMb: number;
  endMb: number;
  /** Least-squares slope of the samples after the warm-up, MB per hour. */
  slopeMbPerHour: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runSoakScenario(s: Scenario, options: RunOptions = {}): Promise<Record<string, unknown>> {
  const soak = s.soak!;
  const log = options.progress ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), `drover-sim-${s.name}-`));
  let master: MasterProcess | undefined;
  let fleets: Fleets | undefined;
  const stop = { now: false };
  try {
    master = await MasterProcess.start({
      store: s.master.store === 'memory' ? 'memory:' : `sqlite:${join(dir, 'master.db')}`,
      allocationIntervalSeconds: s.master.allocationIntervalSeconds,
      agentHeartbeatIntervalSeconds: s.master.agentHeartbeatIntervalSeconds,
      nodeArgs: [...(options.masterNodeArgs ?? []), ...(options.heapSnapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${options.heapSnapshotDir}`] : [])],
      ...(options.masterLogFile ? { logFile: options.masterLogFile } : {}),
    });
    const url = master.url;
    log(`master ${url} pid ${master.pid}; soak for ${soak.minutes} min`);
    fleets = await startFleets({ masterUrl: url, resources: s.agents.resources, behaviour: s.agents.behaviour }, s.agents.count, s.workers);
    const m = master;
    const snapshot = (label: string): Promise<void> => {
      if (!options.heapSnapshotDir) return Promise.resolve();
      m.child.kill('SIGUSR2');
      log(`heap snapshot (${label}) requested into ${options.heapSnapshotDir}`);
      return sleep(15_000);
    };
    const counts = { appsCreated: 0, appsDeleted: 0, scaled: 0, jobsRun: 0, gets: 0, eventClients: 0, errors: 0 };
    const lastErrors: string[] = [];
    const request = async (method: string, path: string, body?: unknown): Promise<number> => {
      try {
        const response = await fetch(`${url}${path}`, {
          method,
          signal: AbortSignal.timeout(60_000),
          ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        });
        await response.arrayBuffer();
        if (response.status >= 500) throw new Error(`${method} ${path}: ${response.status}`);
        return response.status;
      } catch (e) {
        counts.errors++;
        lastErrors.push(String(e));
        if (lastErrors.length > 5) lastErrors.shift();
        return 0;
      }
    };

    const samples: SoakSample[] = [];
    const started = Date.now();
    const end = started + soak.minutes * 60_000;
    const sampler = (async () => {
      while (!stop.now) {
        const f = await m.figures().catch(() => undefined);
        const heap = await heapUsedMb(url).catch(() => NaN);
        if (f) samples.push({ t: round((Date.now() - started) / 1000), rssMb: f.rssMb, heapUsedMb: heap });
        if (samples.length % 12 === 1) log(`t=${Math.round((Date.now() - started) / 1000)}s rss ${f?.rssMb} MB heap ${heap} MB ${JSON.stringify(counts)}`);
        await sleep(soak.sampleSeconds * 1000);
      }
    })();

    // Churn: a pool of app slots; each round creates, scales or deletes one app, and runs a job.
    const live = new Set<number>();
    let round_ = 0;
    const churn = async (): Promise<void> => {
      while (Date.now() < end) {
        round_++;
        const slot = round_ % soak.appSlots;
        const id = `/soak/app-${slot}`;
        if (!live.has(slot)) {
          const status = await request('POST', '/v2/apps', {
            id,
            cmd: 'sleep 3600',
            cpus: s.apps.cpus,
            mem: s.apps.mem,
            instances: 1 + (round_ % s.apps.instances),
            portDefinitions: [{ port: 0 }],
            labels: { round: String(round_) },
            env: { ROUND: String(round_) },
            backoffSeconds: 0,
            ...s.apps.extra,
          });
          if (status === 201 || status === 409) {
            live.add(slot);
            counts.appsCreated++;
          }
        } else if (round_ % 3 === 0) {
          await request('DELETE', `/v2/apps${id}?force=true`);
          live.delete(slot);
          counts.appsDeleted++;
        } else {
          await request('PUT', `/v2/apps${id}?force=true`, { instances: 1 + ((round_ * 7) % s.apps.instances) });
          counts.scaled++;
        }
        if (round_ % soak.jobEvery === 0) {
          const job = `soak-job-${round_ % 5}`;
          await request('POST', '/v1/jobs', { id: job, run: { cmd: 'true', cpus: 0.1, mem: 32, disk: 0 } });
          if ((await request('POST', `/v1/jobs/${job}/runs`)) === 201) counts.jobsRun++;
          if (round_ % (soak.jobEvery * 4) === 0) await request('DELETE', `/v1/jobs/${job}?stopCurrentJobRuns=true`);
        }
        await sleep(soak.churnIntervalMs);
      }
    };
    // API load: the reads a UI and a few scripts make, over and over.
    const reads = async (): Promise<void> => {
      const paths = ['/v2/apps', '/v2/tasks', '/master/state', '/v2/deployments', '/v2/queue', '/v1/jobs?embed=history', '/master/state-summary'];
      for (let i = 0; Date.now() < end; i++) {
        await request('GET', paths[i % paths.length]!);
        counts.gets++;
        await sleep(soak.readIntervalMs);
      }
    };
    // Event stream clients: connect, read for a few seconds, leave (some abort mid-stream).
    const events = async (): Promise<void> => {
      while (Date.now() < end) {
        const controller = new AbortController();
        // A master that does not answer (its event loop held) must not hold the run past its end.
        const timer = setTimeout(() => controller.abort(), (soak.eventClientSeconds + 60) * 1000);
        const response = await fetch(`${url}/v2/events`, { signal: controller.signal }).catch(() => {
          counts.errors++;
          return undefined;
        });
        if (response?.ok) {
          counts.eventClients++;
          const reader = response.body!.getReader();
          const until = Date.now() + soak.eventClientSeconds * 1000;
          while (Date.now() < until) {
            const chunk = await Promise.race([reader.read(), sleep(1000).then(() => undefined)]).catch(() => undefined);
            if (chunk?.done) break;
          }
        }
        clearTimeout(timer);
        controller.abort();
        await sleep(500);
      }
    };
    const load = [churn(), reads(), ...Array.from({ length: soak.eventClients }, () => events())];
    if (options.heapSnapshotDir) {
      await sleep(Math.min(soak.warmupMinutes * 60_000, end - Date.now()));
      await snapshot('after warm-up');
    }
    await Promise.all(load);
    await snapshot('at the end');
    stop.now = true;
    await sampler;
    const warmup = soak.warmupMinutes * 60;
    const summary = {
      scenario: s.name,
      minutes: soak.minutes,
      agents: s.agents.count,
      samples: samples.length,
      warmupMinutes: soak.warmupMinutes,
      rss: curve(samples, 'rssMb', warmup),
      heapUsed: curve(samples, 'heapUsedMb', warmup),
      load: counts,
      ...(lastErrors.length ? { lastErrors } : {}),
      agentStats: await fleets.stats(),
    };
    log(JSON.stringify(summary));
    return { ...summary, curve: samples };
  } finally {
    stop.now = true;
    await fleets?.stop().catch(() => undefined);
    await master?.stop(60_000).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** The master's heap in use, MB, from its metrics. */
async function heapUsedMb(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics/prometheus`, { signal: AbortSignal.timeout(30_000) })).text();
  return round(Number(/^drover_process_heap_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 2 ** 20);
}

/** Start, min, max, end and the least-squares slope after `warmupSeconds` (MB per hour). */
export function curve(samples: readonly SoakSample[], field: 'rssMb' | 'heapUsedMb', warmupSeconds: number): CurveSummary {
  const values = samples.map((x) => x[field]).filter(Number.isFinite);
  const after = samples.filter((x) => x.t >= warmupSeconds && Number.isFinite(x[field]));
  let slope = NaN;
  if (after.length >= 2) {
    const n = after.length;
    const mt = after.reduce((a, x) => a + x.t, 0) / n;
    const mv = after.reduce((a, x) => a + x[field], 0) / n;
    const cov = after.reduce((a, x) => a + (x.t - mt) * (x[field] - mv), 0);
    const vt = after.reduce((a, x) => a + (x.t - mt) ** 2, 0);
    slope = vt > 0 ? (cov / vt) * 3600 : NaN;
  }
  return {
    startMb: values[0] ?? NaN,
    minMb: values.length ? Math.min(...values) : NaN,
    maxMb: values.length ? Math.max(...values) : NaN,
    endMb: values.at(-1) ?? NaN,
    slopeMbPerHour: round(slope),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
