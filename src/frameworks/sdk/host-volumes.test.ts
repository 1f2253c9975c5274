import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resources } from '../../resources/index.ts';
import { parseApp } from '../services/app.ts';
import { buildTaskInfo } from '../services/task-builder.ts';
import { hostVolumeErrors, hostVolumesOf, mesosHostVolumes } from './host-volumes.ts';

const NOW = new Date('2026-12-01T00:00:00Z');

test('host volumes: absolute hostPath is HOST_PATH, relative is the sandbox; other kinds are left alone', () => {
  const volumes = [
    { containerPath: '/etc/app', hostPath: '/srv/app', mode: 'RO' },
    { containerPath: 'cache', hostPath: 'cache', mode: 'RW' },
    { containerPath: 'pw', secret: 's1' },
  ];
  assert.deepEqual(hostVolumeErrors(volumes, '/container/volumes', true), []);
  assert.deepEqual(mesosHostVolumes(hostVolumesOf(volumes)), [
    { container_path: '/etc/app', mode: 'RO', source: { type: 'HOST_PATH', host_path: { path: '/srv/app' } } },
    { container_path: 'cache', mode: 'RW', source: { type: 'SANDBOX_PATH', sandbox_path: { type: 'SELF', path: 'cache' } } },
  ]);
});

test('host volumes: bad paths, modes and absolute container paths without an image are 422 details by field', () => {
  const errors = hostVolumeErrors(
    [
      { containerPath: '/etc/app', hostPath: '/srv/app', mode: 'RO' },
      { containerPath: 'x', hostPath: '/srv/../etc', mode: 'RW' },
      { containerPath: 'y', hostPath: '/srv', mode: 'rw', extra: 1 },
      { containerPath: 'z', hostPath: `/${'a'.repeat(5000)}`, mode: 'RO' },
    ],
    '/run/volumes',
    false,
  );
  assert.deepEqual(
    errors.map((e) => e.path),
    ['/run/volumes/0/containerPath', '/run/volumes/1/hostPath', '/run/volumes/2/extra', '/run/volumes/2/mode', '/run/volumes/3/hostPath'],
  );
});

test("group.json's datadog-agent: its host volumes reach the TaskInfo as Mesos HOST_PATH volumes beside its image", () => {
  const group = JSON.parse(readFileSync(join(import.meta.dirname, '../../../test/fixtures/marathon/group.json'), 'utf8')) as { groups: Array<{ apps: Array<Record<string, unknown>> }> };
  const datadog = group.groups[0]!.apps.find((a) => a['id'] === '/tools/datadog-agent')!;
  const app = parseApp(datadog, NOW);
  assert.deepEqual(app.container?.volumes, [
    { containerPath: '/var/run/docker.sock', hostPath: '/var/run/docker.sock', mode: 'RW' },
    { containerPath: '/host/proc/mounts', hostPath: '/proc/mounts', mode: 'RO' },
    { containerPath: '/host/sys/fs/cgroup', hostPath: '/sys/fs/cgroup/', mode: 'RO' },
  ]);
  const info = buildTaskInfo(app, 't', 'a1', 'h', [31000], Resources.parse('cpus:1;mem:512;ports:[31000-31000]')) as { container: { volumes: unknown[]; mesos: unknown } };
  assert.ok(info.container.mesos !== undefined);
  assert.deepEqual(info.container.volumes[1], { container_path: '/host/proc/mounts', mode: 'RO', source: { type: 'HOST_PATH', host_path: { path: '/proc/mounts' } } });
});
