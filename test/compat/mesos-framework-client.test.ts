/**
 * An unmodified Mesos scheduler library from npm (`mesos-framework`, tobilg/mesos-framework)
 * against a real Drover master and agent: it subscribes (its SUBSCRIBE carries protobuf-JSON
 * nulls: `"framework_id": null`, `"role": null`, …), takes an offer, launches a command task
 * with its own ACCEPT, and sees TASK_RUNNING. The library knows no authentication, so its request
 * template is given the token (the library reads headers from it for every call); nothing of the
 * library itself is changed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_ADMIN_TOKEN } from '../../devkit/credentials.ts';
import { eventually, startDrover, type DroverProcess } from '../../devkit/process.ts';

interface MesosFrameworkScheduler {
  requestTemplate: { headers: Record<string, string> };
  frameworkId: string | null;
  subscribe(): void;
  teardown(): void;
  on(event: string, listener: (arg: unknown) => void): void;
}
const require = createRequire(import.meta.url);
const library = require('mesos-framework') as {
  Scheduler: new (options: Record<string, unknown>) => MesosFrameworkScheduler;
  Mesos: { getMesos(): { CommandInfo: new (...args: unknown[]) => unknown } };
};

let root: string;
let master: DroverProcess;
let agent: DroverProcess;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-compat-mesos-fw-'));
  await mkdir(join(root, 'logs'));
  master = await startDrover(['master', '--no-services', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2']);
  agent = await startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', join(root, 'agent'), '--resources', 'cpus:2;mem:1024;disk:1024;ports:[24120-24130]']);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await master?.stop();
  await rm(root, { recursive: true, force: true });
});

test('npm mesos-framework subscribes, launches a task from an offer and sees it TASK_RUNNING', async () => {
  const url = new URL(master.url);
  const Mesos = library.Mesos.getMesos();
  const states: string[] = [];
  const errors: string[] = [];
  const scheduler = new library.Scheduler({
    masterUrl: url.hostname,
    port: Number(url.port),
    frameworkName: 'compat-npm-mesos-framework',
    logging: { level: process.env['MESOS_FRAMEWORK_LOG'] ?? 'error', path: join(root, 'logs'), fileName: 'mesos-framework.log' },
    tasks: {
      sleeper: {
        priority: 1,
        instances: 1,
        // CommandInfo(uris, environment, shell, value, arguments, user)
        commandInfo: new Mesos.CommandInfo(null, null, true, 'exec sleep 600', null, null),
        resources: { cpus: 0.1, mem: 32, ports: 0, disk: 0 },
      },
    },
  });
  const sent: string[] = [];
  scheduler.on('sent_accept', () => sent.push('ACCEPT'));
  scheduler.on('update', (update) => {
    const status = (update as { status?: { state?: string } }).status;
    if (status?.state !== undefined) states.push(status.state);
  });
  scheduler.requestTemplate.headers['Authorization'] = `token=${TEST_ADMIN_TOKEN}`;
  scheduler.on('error', (e) => errors.push(String((e as { message?: string }).message ?? e)));
  scheduler.on('ready', () => scheduler.subscribe());
  try {
    await eventually(() => scheduler.frameworkId !== null || errors.length > 0, 'the library to subscribe', 60_000);
    assert.deepEqual(errors, []);
    const frameworkId = scheduler.frameworkId!;
    // The master knows the framework by the name the library sent.
    const frameworks = (await (await fetch(`${master.url}/master/frameworks?framework_id=${frameworkId}`)).json()) as { frameworks: Array<{ name: string }> };
    assert.equal(frameworks.frameworks[0]?.name, 'compat-npm-mesos-framework');
    await eventually(() => states.includes('TASK_RUNNING') || errors.length > 0, 'the library’s task to run', 120_000).catch((e: Error) => {
      throw new Error(`${e.message}; calls sent: ${sent.join(', ')}; states seen: ${states.join(', ')}`);
    });
    assert.deepEqual(errors, []);
    const tasks = (await (await fetch(`${master.url}/master/tasks?framework_id=${frameworkId}`)).json()) as { tasks: Array<{ state: string; name: string }> };
    assert.ok(
      tasks.tasks.some((t) => t.state === 'TASK_RUNNING' && t.name.startsWith('sleeper')),
      JSON.stringify(tasks.tasks),
    );
  } finally {
    scheduler.teardown();
  }
});
