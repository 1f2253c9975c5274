import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDroverError } from '../../errors/errors.ts';
import { Resources } from '../../resources/index.ts';
import { parseApp } from './app.ts';
import { specOf } from './placement.ts';
import { buildTaskInfo } from './task-builder.ts';

const NOW = new Date('2026-12-01T00:00:00Z');

test("group.json's registry app (docker.network BRIDGE, docker.portMappings): the agents' mesos-bridge with its host port forwarded to 5000", () => {
  const group = JSON.parse(readFileSync(join(import.meta.dirname, '../../../test/fixtures/marathon/group.json'), 'utf8')) as {
    groups: Array<{ groups: Array<{ apps: Array<Record<string, unknown>> }> }>;
  };
  const registry = group.groups[0]!.groups[1]!.apps[0]!;
  assert.equal(registry['id'], '/tools/docker/registry');
  const app = parseApp(registry, NOW);
  assert.deepEqual(app.networks, [{ mode: 'container/bridge' }]);
  assert.deepEqual(app.container?.portMappings, [{ containerPort: 5000, hostPort: 0, servicePort: 5000, protocol: 'tcp' }]);
  assert.deepEqual(specOf(app).ports, { kind: 'any', count: 1 });
  const info = buildTaskInfo(app, 't', 'a1', 'h', [31005], Resources.parse('cpus:1;mem:128;ports:[31005-31005]')) as {
    container: { network_infos: unknown[] };
    command: { environment: { variables: Array<{ name: string; value: string }> } };
  };
  assert.deepEqual(info.container.network_infos, [{ name: 'mesos-bridge', port_mappings: [{ host_port: 31005, container_port: 5000, protocol: 'tcp' }] }]);
  assert.equal(info.command.environment.variables.find((v) => v.name === 'PORT0')?.value, '31005');
});

test('container/bridge: fixed hostPorts are required ports; containerPort 0 is the host port; udp,tcp is two forwards; no mappings is one dynamic port', () => {
  const app = parseApp(
    {
      id: '/b',
      cmd: 'serve',
      networks: [{ mode: 'container/bridge' }],
      container: {
        type: 'MESOS',
        portMappings: [
          { containerPort: 80, hostPort: 31080, protocol: 'udp,tcp' },
          { containerPort: 0, hostPort: 31081 },
        ],
      },
    },
    NOW,
  );
  assert.deepEqual(specOf(app).ports, { kind: 'fixed', ports: [31080, 31081] });
  const info = buildTaskInfo(app, 't', 'a1', 'h', [31080, 31081], Resources.parse('cpus:1;mem:128;ports:[31080-31081]')) as { container: { network_infos: Array<{ port_mappings: unknown[] }> } };
  assert.deepEqual(info.container.network_infos[0]!.port_mappings, [
    { host_port: 31080, container_port: 80, protocol: 'udp' },
    { host_port: 31080, container_port: 80, protocol: 'tcp' },
    { host_port: 31081, container_port: 31081, protocol: 'tcp' },
  ]);
  const none = parseApp({ id: '/n', cmd: 'serve', networks: [{ mode: 'container/bridge' }] }, NOW);
  assert.deepEqual(specOf(none).ports, { kind: 'any', count: 1 });
});

test('bridge validation: a mix of fixed and dynamic host ports, bridge with another network, a named bridge are 422 by field', () => {
  const paths = (def: Record<string, unknown>): string[] => {
    try {
      parseApp({ id: '/x', cmd: 'x', ...def }, NOW);
      return [];
    } catch (error) {
      assert.ok(isDroverError(error));
      return ((error as { details?: Array<{ path: string }> }).details ?? []).map((d) => d.path);
    }
  };
  assert.deepEqual(paths({ networks: [{ mode: 'container/bridge' }], container: { type: 'MESOS', portMappings: [{ containerPort: 1, hostPort: 31000 }, { containerPort: 2 }] } }), [
    '/container/portMappings/1/hostPort',
  ]);
  assert.deepEqual(paths({ networks: [{ mode: 'container/bridge' }, { mode: 'container', name: 'dev' }] }), ['/networks']);
  assert.deepEqual(paths({ networks: [{ mode: 'container/bridge', name: 'x' }] }), ['/networks/0/name']);
  assert.deepEqual(paths({ container: { type: 'DOCKER', docker: { image: 'a/b', network: 'USER' } } }), ['/container/docker/network']);
  assert.deepEqual(paths({ container: { type: 'DOCKER', docker: { image: 'a/b', portMappings: [{ containerPort: 80 }] } } }), ['/container/docker/portMappings']);
  // Host networking still refuses a fixed hostPort in a mapping (the bridge is where they work).
  assert.deepEqual(paths({ container: { type: 'MESOS', portMappings: [{ containerPort: 0, hostPort: 8080 }] } }), ['/container/portMappings/0/hostPort']);
});
