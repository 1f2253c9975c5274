/**
 * Marathon's deployments outlive a restart, and Marathon's events about them and the group tree
 * (docs/docs/event-bus.md, core/event/Events.scala): a live `drover dev`, stopped and started
 * again on the same data directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../../devkit/process.ts';
import { httpCall, type HttpAnswer } from '../support/http.ts';
import { mismatches } from './marathon-shape.ts';

let root: string;
let dev: DroverProcess | undefined;
const args = (): string[] => ['dev', '--port', '0', '--agent-port', '0', '--data-dir', root, '--resources', 'cpus:2;mem:1024;disk:500;ports:[23300-23320]'];
const call = (method: string, path: string, body?: unknown): Promise<HttpAnswer> => httpCall(dev!.url, method, path, body);

/** The events of `/v2/events` as they arrive (parsed `data:` lines). */
function follow(url: string): { events: Array<Record<string, unknown>>; stop: () => void } {
  const events: Array<Record<string, unknown>> = [];
  const controller = new AbortController();
  void (async () => {
    const response = await fetch(`${url}/v2/events`, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (data) events.push(JSON.parse(data.slice(6)) as Record<string, unknown>);
      }
    }
  })().catch(() => undefined);
  return { events, stop: () => controller.abort() };
}
const seen = (events: Array<Record<string, unknown>>, type: string) => events.find((e) => e['eventType'] === type);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-compat-deploy-'));
  dev = await startDrover(args());
  await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', 60_000);
});
after(async () => {
  if (dev !== undefined) {
    await call('DELETE', '/v2/apps/stuck?force=true').catch(() => undefined);
    await eventually(async () => ((await call('GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 60_000).catch(() => undefined);
    await dev.stop();
  }
  await rm(root, { recursive: true, force: true });
});

test('a deployment that cannot finish survives a restart, then ends in Marathon’s events', async () => {
  const stream = follow(dev!.url);
  await eventually(() => stream.events.length > 0, 'the event stream attached');
  // Never healthy, so its deployment never completes.
  const created = await call('POST', '/v2/apps', {
    id: '/stuck',
    cmd: 'sleep 3600',
    cpus: 0.05,
    mem: 32,
    healthChecks: [{ protocol: 'COMMAND', command: { value: 'false' }, gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 5, maxConsecutiveFailures: 1 }],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const deploymentId = created.headers.get('marathon-deployment-id');
  assert.ok(deploymentId);
  // group_change_success {groupId, version}; failed_health_check_event {appId, taskId, instanceId, version, healthCheck}.
  const change = await eventually(() => seen(stream.events, 'group_change_success'), 'group_change_success');
  assert.deepEqual(mismatches(change, { groupId: '', version: '', timestamp: '' }), []);
  const failed = await eventually(() => seen(stream.events, 'failed_health_check_event'), 'failed_health_check_event', 60_000);
  assert.deepEqual(mismatches(failed, { appId: '', taskId: '', instanceId: '', version: '', healthCheck: { protocol: '' } }), []);
  stream.stop();

  await dev!.stop();
  dev = await startDrover(args());
  // Still there after the restart, with the same id, and still locking the app.
  const listed = (await call('GET', '/v2/deployments')).body as Array<{ id: string; affectedApps: string[] }>;
  assert.deepEqual(
    listed.map((d) => [d.id, d.affectedApps]),
    [[deploymentId, ['/stuck']]],
  );
  assert.equal((await call('PUT', '/v2/apps/stuck', { instances: 2 })).status, 409);

  // Forced over by a definition that can finish: the old one fails, the new one succeeds.
  const events = follow(dev!.url);
  await eventually(() => events.events.length > 0, 'the event stream attached');
  const fixed = await call('PUT', '/v2/apps/stuck?force=true', { healthChecks: [{ protocol: 'COMMAND', command: { value: 'true' }, gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 5 }] });
  assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
  const failedDeployment = await eventually(() => seen(events.events, 'deployment_failed'), 'deployment_failed');
  assert.equal(failedDeployment['id'], deploymentId);
  assert.deepEqual(mismatches(failedDeployment, { id: '', plan: { id: '', steps: [] } }), []);
  await eventually(() => seen(events.events, 'deployment_step_failure'), 'deployment_step_failure');
  const step = await eventually(() => seen(events.events, 'deployment_step_success'), 'deployment_step_success', 60_000);
  assert.deepEqual(mismatches(step, { plan: { id: '', steps: [{ actions: [{ action: '', app: '' }] }] }, currentStep: { actions: [] } }), []);
  await eventually(() => seen(events.events, 'deployment_success'), 'deployment_success');
  events.stop();
  assert.deepEqual((await call('GET', '/v2/deployments')).body, []);

  // Finished deployments are not resumed by the next restart.
  await dev!.stop();
  dev = await startDrover(args());
  assert.deepEqual((await call('GET', '/v2/deployments')).body, []);
});
