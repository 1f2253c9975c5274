/**
 * `npm run bench -- memory-probe [--minutes N] [--heap-snapshots DIR] [--malloc default]`: a real `drover dev` (its
 * own data dir and ports) under the loads that once grew it to 2.87 GB (issue 15), its RSS and
 * heap sampled every 5 s: app churn with real tasks (create, scale, delete), jobs run and deleted,
 * the sandbox file API (browse and read through the master's /agent/{id}/files relay and on the
 * agent directly, follow streams left mid-way), /v2/events clients coming and going, and the
 * reads and refusals (404s, 4xx bodies) a UI and a fuzzer make, and the two abuses measured when
 * it grew (issue 15): 10 MB request bodies (+112 MB each, then) and 40 `/v2/events` clients that
 * never read (+275 MB, then), repeated every 30 s. With --heap-snapshots the
 * process writes a snapshot after the warm-up and at the end (compare them by constructor).
 * Prints one JSON line: the RSS and heap curves' start, min, max, end and slope after warm-up.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDrover } from '../devkit/process.ts';
import { curve, type SoakSample } from '../sim/soak-scenario.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function flag(args: string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return args[i]!.includes('=') ? args[i]!.slice(args[i]!.indexOf('=') + 1) : args[i + 1];
}

export default async function memoryProbe(args: string[]): Promise<Record<string, unknown>> {
  const minutes = Number(flag(args, 'minutes') ?? 10);
  const snapshots = flag(args, 'heap-snapshots');
  if (snapshots) await mkdir(snapshots, { recursive: true });
  const dataDir = await mkdtemp(join(tmpdir(), 'drover-memory-probe-'));
  // --malloc default: glibc's own thresholds instead of the launcher's (docs/architecture/016-memory.md).
  const malloc = flag(args, 'malloc') === 'default' ? 'default' : 'drover';
  const drover = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', dataDir, '--resources', 'cpus:8;mem:8192;disk:8192;ports:[31000-31999]'], {
    env: { NODE_OPTIONS: snapshots ? `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshots}` : '', ...(malloc === 'default' ? { DROVER_MALLOC: 'default' } : {}) },
    // A bound on "it never started": two probes side by side on a loaded machine took over 60 s.
    timeoutMs: 300_000,
  });
  const url = drover.url;
  const pid = drover.child.pid!;
  const counts = { apps: 0, deletes: 0, jobs: 0, fileReads: 0, fileBrowses: 0, follows: 0, eventClients: 0, gets: 0, refusals: 0, errors: 0, hugeBodies: 0, hugeRefused: 0, pausedClients: 0 };
  const started = Date.now();
  const end = started + minutes * 60_000;
  const warmup = Math.min(2, minutes / 4) * 60;
  const samples: SoakSample[] = [];
  const call = async (path: string, init: RequestInit = {}, abortAfterMs?: number): Promise<Response | undefined> => {
    try {
      const response = await fetch(path.startsWith('http') ? path : `${url}${path}`, { signal: AbortSignal.timeout(abortAfterMs ?? 60_000), ...init });
      if (abortAfterMs === undefined) await response.arrayBuffer();
      if (response.status >= 500) counts.errors++;
      return response;
    } catch {
      if (abortAfterMs === undefined) counts.errors++;
      return undefined;
    }
  };
  const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  try {
    const sampler = (async () => {
      while (Date.now() < end) {
        const status = await readFile(`/proc/${pid}/status`, 'utf8');
        const rssMb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN) / 1024;
        // A master busy writing a heap snapshot may not answer in time: that sample has no heap figure.
        const metrics = await fetch(`${url}/metrics/prometheus`, { signal: AbortSignal.timeout(30_000) })
          .then((r) => r.text())
          .catch(() => '');
        const heapUsedMb = Number(/^drover_process_heap_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
        samples.push({ t: Math.round((Date.now() - started) / 1000), rssMb: Math.round(rssMb * 10) / 10, heapUsedMb: Math.round(heapUsedMb * 10) / 10 });
        if (samples.length % 12 === 1) process.stderr.write(`[memory-probe] ${JSON.stringify(samples.at(-1))} ${JSON.stringify(counts)}\n`);
        await sleep(5000);
      }
    })();
    const churn = async (): Promise<void> => {
      for (let i = 0; Date.now() < end; i++) {
        const id = `/probe/app-${i % 6}`;
        if (i % 12 < 6) {
          await call('/v2/apps', json({ id, cmd: `echo round ${i}; sleep ${5 + (i % 20)}`, cpus: 0.05, mem: 16, instances: 1 + (i % 3), labels: { round: String(i) } }));
          counts.apps++;
        } else {
          await call(`/v2/apps${id}?force=true`, { method: 'DELETE' });
          counts.deletes++;
        }
        if (i % 10 === 0) {
          await call('/v1/jobs', json({ id: 'probe-job', run: { cmd: 'echo job', cpus: 0.05, mem: 16, disk: 0 } }));
          await call('/v1/jobs/probe-job/runs', { method: 'POST' });
          counts.jobs++;
          if (i % 40 === 0) await call('/v1/jobs/probe-job?stopCurrentJobRuns=true', { method: 'DELETE' });
        }
        await sleep(1000);
      }
    };
    const files = async (): Promise<void> => {
      while (Date.now() < end) {
        const state = (await (await fetch(`${url}/master/state`, { signal: AbortSignal.timeout(60_000) })).json().catch(() => undefined)) as
          | { slaves?: Array<{ id: string; hostname: string; port?: number; pid?: string }>; frameworks?: Array<{ tasks?: Array<{ id: string }> }> }
          | undefined;
        const agent = state?.slaves?.[0];
        if (!agent) {
          await sleep(2000);
          continue;
        }
        const agentUrl = `http://${agent.hostname}:${agent.port ?? /:(\d+)$/.exec(agent.pid ?? '')?.[1]}`;
        const listing = (await (await fetch(`${url}/agent/${agent.id}/files/browse?path=slaves`, { signal: AbortSignal.timeout(60_000) }).catch(() => undefined))?.json().catch(() => [])) as
          | Array<{ path: string }>
          | undefined;
        // Down to sandboxes: slaves/<agent>/frameworks/<fw>/executors/<task>/runs/<container>/stdout.
        let dirs = (Array.isArray(listing) ? listing : []).map((f) => f.path);
        for (let depth = 0; depth < 9 && dirs.length > 0; depth++) {
          const next: string[] = [];
          for (const d of dirs.slice(0, 8)) {
            const r = await fetch(`${agentUrl}/files/browse?path=${encodeURIComponent(d)}`, { signal: AbortSignal.timeout(60_000) }).catch(() => undefined);
            counts.fileBrowses++;
            const entries = (await r?.json().catch(() => [])) as Array<{ path: string; mode: string }>;
            if (!Array.isArray(entries)) continue;
            for (const e of entries) next.push(e.path);
          }
          const stdout = next.filter((p) => p.endsWith('/stdout'));
          for (const file of stdout.slice(0, 4)) {
            const q = `path=${encodeURIComponent(file)}`;
            for (let k = 0; k < 10; k++) {
              await call(`/agent/${agent.id}/files/read?${q}&offset=0&length=4096`);
              await call(`${agentUrl}/files/read?${q}&offset=0`);
              await call(`/agent/${agent.id}/files/download?${q}`);
              counts.fileReads += 3;
            }
            // A follow stream the caller leaves mid-way, through the relay and directly.
            await call(`/agent/${agent.id}/files/follow?${q}&offset=0`, {}, 300);
            await call(`${agentUrl}/files/follow?${q}&offset=0`, {}, 300);
            counts.follows += 2;
          }
          await call(`/agent/${agent.id}/files/read?path=..%2F..%2Fetc%2Fshadow`);
          await call(`/agent/${agent.id}/files/browse?path=meta`);
          dirs = next.filter((p) => !p.endsWith('/stdout') && !p.endsWith('/stderr'));
        }
        await sleep(500);
      }
    };
    const events = async (): Promise<void> => {
      while (Date.now() < end) {
        const controller = new AbortController();
        const response = await fetch(`${url}/v2/events`, { signal: controller.signal }).catch(() => undefined);
        if (response?.ok) counts.eventClients++;
        await sleep(3000);
        controller.abort();
      }
    };
    const reads = async (): Promise<void> => {
      const paths = ['/v2/apps', '/v2/tasks', '/master/state', '/v2/queue', '/v1/jobs?embed=history', '/v2/apps/%25/x', '/v2/apps/nope', '/master/tasks?limit=10', '/nowhere'];
      for (let i = 0; Date.now() < end; i++) {
        await call(paths[i % paths.length]!);
        counts.gets++;
        if (i % 5 === 0) {
          await call('/v2/apps', json({ id: 'bad', cpus: -1, labels: { x: 1 } }));
          await call('/v2/groups', json({ groups: [null] }));
          counts.refusals += 2;
        }
        await sleep(100);
      }
    };
    const abuse = async (): Promise<void> => {
      const huge = JSON.stringify({ id: '/probe/huge', cmd: 'x'.repeat(10 * 2 ** 20) });
      while (Date.now() < end) {
        for (let k = 0; k < 2; k++) {
          const r = await call('/v2/apps', { method: 'POST', headers: { 'content-type': 'application/json' }, body: huge });
          counts.hugeBodies++;
          if (r?.status === 413) counts.hugeRefused++;
        }
        // Subscribers that never read: the server's buffer per subscriber and their number are what bound it.
        const paused = Array.from({ length: 40 }, () => new AbortController());
        await Promise.all(
          paused.map((c) =>
            fetch(`${url}/v2/events`, { signal: c.signal }).then(
              () => counts.pausedClients++,
              () => undefined,
            ),
          ),
        );
        await sleep(Math.min(30_000, Math.max(0, end - Date.now())));
        for (const c of paused) c.abort();
      }
    };
    const load = Promise.all([churn(), files(), reads(), events(), events(), abuse()]);
    if (snapshots) {
      await sleep(warmup * 1000);
      drover.child.kill('SIGUSR2');
    }
    await load;
    await sampler;
    if (snapshots) {
      drover.child.kill('SIGUSR2');
      await sleep(20_000);
    }
    return {
      bench: 'memory-probe',
      minutes,
      malloc,
      samples: samples.length,
      warmupMinutes: warmup / 60,
      rss: curve(samples, 'rssMb', warmup),
      heapUsed: curve(samples, 'heapUsedMb', warmup),
      load: counts,
      curve: samples,
    };
  } finally {
    // Its tasks: the probe's apps are removed first, so no `sleep` outlives the run.
    await call('/v2/groups/probe?force=true', { method: 'DELETE' });
    await drover.stop();
    await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
