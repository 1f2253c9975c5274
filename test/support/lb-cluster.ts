/**
 * What the `drover lb` test files share: a real `drover dev` running real tasks, a real `drover lb`
 * process following its event stream with Debian's HAProxy in front of the tasks, and the helpers
 * that post apps and read HAProxy's config through the LB's admin port.
 *
 * Two files use it (test/lb.test.ts: routing, labels and refusals; test/lb-rolling.test.ts: the
 * two rolling deploys under load). They run concurrently, so each passes its own blocks of
 * service and agent ports. The bindings below are set by `startLbCluster` (ES module live bindings:
 * the importing file sees them once its `before` ran).
 */
import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Agent, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { eventually, startDrover, type DroverProcess } from '../../devkit/process.ts';
import { httpCall } from './http.ts';

const haveHaproxy = await new Promise<boolean>((resolve) => execFile('haproxy', ['-v'], (e) => resolve(e === null)));
export const skip = haveHaproxy ? false : 'haproxy is not installed (.ci/run installs it)';

export let root: string;
export let dev: DroverProcess;
export let lb: DroverProcess;
export let httpPort: number;
export let appIdPort: number;
/** Where tasks listen: the address the agent's host name resolves to (the LB sends traffic there). */
export let listen: string;
/** The first of this file's service ports (a random block of 10 in the file's range). */
export let base: number;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Service ports: a random block of 10 in `[servicePorts, servicePorts + 3500)`; agent ports: a
 * random block of 100 in `[agentPorts, agentPorts + 10000)`. Files that run at once pass disjoint
 * ranges, so they never meet.
 */
export async function startLbCluster(name: string, ranges: { servicePorts: number; agentPorts: number }): Promise<void> {
  base = ranges.servicePorts + Math.floor(Math.random() * 350) * 10;
  root = await mkdtemp(join(tmpdir(), `drover-${name}-`));
  listen = (await lookup(hostname())).address;
  const agentPorts = ranges.agentPorts + Math.floor(Math.random() * 100) * 100;
  dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--no-lb', '--data-dir', join(root, 'dev'), '--resources', `cpus:8;mem:4096;disk:1000;ports:[${agentPorts}-${agentPorts + 99}]`]);
  await eventually(async () => ((await httpCall(dev.url, 'GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', 60_000);
  httpPort = await freePort();
  appIdPort = await freePort();
  lb = await startDrover(
    [
      'lb',
      '--master',
      dev.url,
      '--bind-address',
      '127.0.0.1',
      '--http-port',
      String(httpPort),
      '--https-port',
      '0',
      '--app-id-port',
      String(appIdPort),
      '--admin-port',
      '0',
      '--work-dir',
      join(root, 'lb'),
    ],
    // HAProxy's own log (abnormal requests only) comes through at info: shown when a test fails.
    { env: { DROVER_LOG_LEVEL: 'info' } },
  );
}

/** Removes the apps, waits (bounded) for their tasks to end, stops the LB and `drover dev`. */
export async function stopLbCluster(): Promise<void> {
  if (dev) {
    for (const a of ((await httpCall(dev.url, 'GET', '/v2/apps')).body as { apps: Array<{ id: string }> }).apps) await httpCall(dev.url, 'DELETE', `/v2/apps${a.id}?force=true`);
    await eventually(async () => ((await httpCall(dev.url, 'GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 30_000).catch(() => undefined);
  }
  await lb?.stop();
  await dev?.stop();
  if (root) await rm(root, { recursive: true, force: true });
}

/**
 * A task that answers `<name> <task id>` and, told to stop, serves on for 5 s (its kill grace is
 * 10 s), as an app behind a load balancer should (Kubernetes' preStop sleep): the kill reaches
 * the LB as a status event that travels agent → master → framework → /v2/events while the task
 * already has its SIGTERM, and on a loaded machine that took longer than 1.5 s (an app that quit
 * after 1.5 s cost 16 of 26,221 requests). Its keep-alive timeout is longer than HAProxy keeps idle server connections (as nginx's
 * 75 s): else HAProxy may reuse a connection the app is closing, and then closes the client's
 * connection without an answer (as a server would) — a failed request for a client that does not retry.
 */
export function httpTask(name: string): string {
  const js = `const s=require('http').createServer((q,r)=>r.end(${JSON.stringify(name)}+' '+process.env.MESOS_TASK_ID));s.keepAliveTimeout=65000;s.listen(+process.env.PORT0,process.env.LISTEN);process.on('SIGTERM',()=>setTimeout(()=>process.exit(0),5000))`;
  return `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(js)}`;
}

export function app(id: string, servicePort: number, labels: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    cmd: httpTask(id),
    cpus: 0.05,
    mem: 96,
    instances: 1,
    taskKillGracePeriodSeconds: 10,
    env: { LISTEN: listen },
    portDefinitions: [{ port: servicePort, protocol: 'tcp' }],
    labels: { HAPROXY_GROUP: 'external', ...labels },
    healthChecks: [{ protocol: 'MESOS_HTTP', path: '/', portIndex: 0, intervalSeconds: 1, timeoutSeconds: 2, gracePeriodSeconds: 60, maxConsecutiveFailures: 3 }],
    ...extra,
  };
}

export async function admin(path: string): Promise<string> {
  return (await fetch(`${lb.url}${path}`)).text();
}

/** The filled slots of a backend in the config HAProxy runs now. */
export async function servers(backend: string): Promise<string[]> {
  const config = await admin('/_haproxy_getconfig');
  const at = config.indexOf(`\nbackend ${backend}\n`);
  if (at < 0) return [];
  const section = config.slice(at + 1).split('\n\n')[0]!;
  return [...section.matchAll(/^\s+server s\d+ (\S+:\d+)(?: cookie \S+)?$/gm)].map((m) => m[1]!);
}

export async function healthyCount(id: string): Promise<number> {
  const { app: a } = (await httpCall(dev.url, 'GET', `/v2/apps${id}`)).body as { app: { tasksHealthy: number; deployments: unknown[] } };
  return a.deployments.length === 0 ? a.tasksHealthy : -1;
}

/** Waits for `n` healthy instances and no deployment; a timeout says what the app had instead. */
export async function deployed(id: string, n: number, timeoutMs = 120_000): Promise<void> {
  await eventually(async () => (await healthyCount(id)) === n, `${id}: ${n} healthy instances, no deployment`, timeoutMs).catch(async (error: Error) => {
    throw new Error(`${error.message}: ${await appSummary(id)}`);
  });
}

/** One line on an app: its counts, its tasks' states and health, its last failure and why it waits. */
async function appSummary(id: string): Promise<string> {
  const shown = (await httpCall(dev.url, 'GET', `/v2/apps${id}?embed=app.tasks&embed=app.lastTaskFailure`).catch(() => undefined))?.body as
    | {
        app?: {
          tasksRunning: number;
          tasksHealthy: number;
          tasksUnhealthy: number;
          deployments: unknown[];
          tasks?: Array<{ state: string; healthCheckResults?: Array<{ alive: boolean; lastFailureCause?: string }> }>;
          lastTaskFailure?: unknown;
        };
      }
    | undefined;
  const queue = (await httpCall(dev.url, 'GET', `/v2/queue?id=${id}`).catch(() => undefined))?.body as { queue?: Array<{ why?: { summary?: string } }> } | undefined;
  const a = shown?.app;
  if (a === undefined) return 'the app could not be read';
  const tasks = (a.tasks ?? []).map((t) => `${t.state}${(t.healthCheckResults ?? []).map((h) => (h.alive ? ' alive' : ` not alive (${h.lastFailureCause ?? '?'})`)).join('')}`);
  return JSON.stringify({
    running: a.tasksRunning,
    healthy: a.tasksHealthy,
    unhealthy: a.tasksUnhealthy,
    deployments: a.deployments.length,
    tasks,
    lastTaskFailure: a.lastTaskFailure,
    waiting: queue?.queue?.[0]?.why?.summary,
  });
}

export function get(port: number, path: string, headers: Record<string, string> = {}, agent?: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: agent ?? false, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

export async function post(body: Record<string, unknown>): Promise<void> {
  const r = await httpCall(dev.url, 'POST', '/v2/apps', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
}
