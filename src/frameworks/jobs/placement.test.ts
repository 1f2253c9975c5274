import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../../resources/index.ts';
import { parseJob } from './job.ts';
import { fit } from './placement.ts';
import { buildJobTaskInfo } from './task-builder.ts';
import type { Run } from './run.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const offer = (attributes: Record<string, string> = {}, resources = 'cpus:2;mem:1024;disk:100') => ({ agentId: 'a1', hostname: 'node-1', attributes, resources: Resources.parse(resources) });
const job = (run: Record<string, unknown>) => parseJob({ id: 'j', run: { cmd: 'true', cpus: 0.5, mem: 64, ...run } }, NOW);

test('resources: what the run needs, taken from the offer; a shortfall names the resource', () => {
  const placed = fit(job({ disk: 10 }), offer());
  assert.ok('resources' in placed);
  assert.equal(placed.resources.format(), 'cpus:0.5;mem:64;disk:10');
  assert.deepEqual(fit(job({ mem: 4096 }), offer()), { reason: 'insufficient mem: 1024 < 4096' });
});

test('constraints: IS (and EQ), LIKE, UNLIKE on attributes and hostname, each refusal with its reason', () => {
  const c = (attribute: string, operator: string, value: string) => job({ placement: { constraints: [{ attribute, operator, value }] } });
  assert.ok('resources' in fit(c('rack', 'EQ', 'r1'), offer({ rack: 'r1' })));
  assert.deepEqual(fit(c('rack', 'IS', 'r1'), offer({ rack: 'r2' })), { reason: 'constraint rack IS r1: rack is r2' });
  assert.deepEqual(fit(c('rack', 'IS', 'r1'), offer()), { reason: 'constraint rack IS r1: agent has no rack' });
  assert.ok('resources' in fit(c('hostname', 'LIKE', 'node-[0-9]+'), offer()));
  assert.deepEqual(fit(c('hostname', 'LIKE', 'node'), offer()), { reason: 'constraint hostname LIKE node: hostname is node-1' }, 'LIKE matches the whole value');
  assert.deepEqual(fit(c('hostname', 'UNLIKE', 'node-1'), offer()), { reason: 'constraint hostname UNLIKE node-1: hostname is node-1' });
  assert.ok('resources' in fit(c('rack', 'UNLIKE', 'r1'), offer()), 'UNLIKE holds on an agent without the attribute');
});

test('task: cmd through the shell or args exec’d; env with the run’s identity; artifacts; kill grace period', () => {
  const run: Run = { id: '20260101000000abcde', jobId: 'j', status: 'INITIAL', createdAt: NOW, trigger: 'manual', cycle: 'c', tasks: [] };
  const shell = buildJobTaskInfo(job({ env: { A: '1' }, artifacts: [{ uri: 'http://x/y.tgz' }], taskKillGracePeriodSeconds: 2.5, user: 'nobody' }), run, 't1', 'a1', Resources.parse('cpus:0.5'));
  const command = shell['command'] as { value: string; shell: boolean; user: string; uris: unknown[]; environment: { variables: Array<{ name: string; value: string }> } };
  assert.equal(command.value, 'true');
  assert.equal(command.shell, true);
  assert.equal(command.user, 'nobody');
  assert.deepEqual(command.uris, [{ value: 'http://x/y.tgz', extract: true, executable: false, cache: false }]);
  const env = Object.fromEntries(command.environment.variables.map((v) => [v.name, v.value]));
  assert.deepEqual([env['A'], env['DROVER_JOB_ID'], env['DROVER_JOB_RUN_ID']], ['1', 'j', run.id]);
  assert.deepEqual(shell['kill_policy'], { grace_period: { nanoseconds: 2_500_000_000 } });
  const exec = buildJobTaskInfo(parseJob({ id: 'j', run: { args: ['/bin/echo', 'a b'] } }, NOW), run, 't1', 'a1', Resources.parse('cpus:1'));
  assert.deepEqual(exec['command'] && { ...(exec['command'] as Record<string, unknown>), environment: undefined }, {
    value: '/bin/echo',
    shell: false,
    arguments: ['/bin/echo', 'a b'],
    environment: undefined,
  });
});
