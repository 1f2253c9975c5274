import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../../resources/index.ts';
import { parseApp } from './app.ts';
import { unsupportedFields } from './app-schema.ts';
import { buildTaskInfo, taskEnvironment } from './task-builder.ts';

const NOW = new Date('2026-11-22T00:00:00Z');

test('Marathon environment, named ports and the health check go into the TaskInfo', () => {
  const app = parseApp(
    { id: '/shop/web', cmd: 'serve', labels: { tier: 'front' }, portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }], healthChecks: [{ protocol: 'MESOS_HTTP', path: '/health', portIndex: 0 }] },
    NOW,
  );
  const info = buildTaskInfo(app, 'shop_web.instance-x._app.1', 'a1', 'node-1', [31000, 31001], Resources.parse('cpus:1;mem:128;ports:[31000-31001]')) as {
    name: string;
    command: { environment: { variables: Array<{ name: string; value: string }> } };
    health_check: { type: string; http: { port: number; path: string } };
    container?: unknown;
  };
  const env = Object.fromEntries(info.command.environment.variables.map((v) => [v.name, v.value]));
  assert.equal(info.name, 'web.shop');
  assert.equal(env['PORT0'], '31000');
  assert.equal(env['PORT_HTTP'], '31000');
  assert.equal(env['PORTS'], '31000,31001');
  assert.equal(env['MARATHON_APP_ID'], '/shop/web');
  assert.equal(env['MARATHON_APP_LABEL_TIER'], 'front');
  assert.equal(env['HOST'], 'node-1');
  assert.deepEqual(info.health_check.http, { port: 31000, path: '/health', scheme: 'http' });
  assert.equal(info.container, undefined, 'host networking needs no container info');
});

test('named container networks become the task network_infos (CNI on the agent)', () => {
  const app = parseApp(
    {
      id: '/net',
      cmd: 'serve',
      networks: [
        { mode: 'container', name: 'dev' },
        { mode: 'container', name: 'data' },
      ],
    },
    NOW,
  );
  const info = buildTaskInfo(app, 't', 'a1', 'h', [], Resources.parse('cpus:1;mem:128')) as { container: unknown };
  assert.deepEqual(info.container, { type: 'MESOS', network_infos: [{ name: 'dev' }, { name: 'data' }] });
  assert.throws(() => parseApp({ id: '/net', cmd: 'x', networks: [{ mode: 'container/bridge' }, { mode: 'container', name: 'dev' }] }, NOW), /Object is not valid/);
  assert.throws(() => parseApp({ id: '/net', cmd: 'x', networks: [{ mode: 'host' }, { mode: 'container', name: 'dev' }] }, NOW), /Object is not valid/);
});

test("Marathon's container.docker.privileged (no image) becomes ContainerInfo.docker.privileged; what cannot be honoured under docker is refused", () => {
  const def = { id: '/priv', cmd: 'serve', container: { type: 'MESOS', docker: { privileged: true } } };
  assert.deepEqual(unsupportedFields(def), []);
  const app = parseApp(def, NOW);
  assert.deepEqual(app.container, { type: 'MESOS', docker: { privileged: true } }, 'kept, so GET shows it and a PUT of it round-trips');
  const info = buildTaskInfo(app, 't', 'a1', 'h', [], Resources.parse('cpus:1;mem:128')) as { container: unknown };
  assert.deepEqual(info.container, { type: 'MESOS', docker: { privileged: true } });
  const plain = parseApp({ ...def, container: { type: 'MESOS', docker: { privileged: false } } }, NOW);
  assert.equal(plain.container, undefined);
  assert.equal((buildTaskInfo(plain, 't', 'a1', 'h', [], Resources.parse('cpus:1;mem:128')) as { container?: unknown }).container, undefined);
  assert.deepEqual(
    unsupportedFields({ id: '/x', cmd: 'x', container: { docker: { image: 'nginx', privileged: true, parameters: [{ key: 'a', value: 'b' }], network: 'USER', credential: {} } } }).map((d) => d.path),
    ['/container/docker/parameters', '/container/docker/credential', '/container/docker/network'],
  );
  assert.deepEqual(unsupportedFields({ id: '/x', container: { type: 'DOCKER', docker: { image: 'nginx', privileged: true, parameters: [], network: 'HOST', forcePullImage: false } } }), []);
  assert.deepEqual(
    unsupportedFields({ id: '/x', cmd: 'x', container: { docker: { privileged: 'yes' } } }).map((d) => d.path),
    ['/container/docker/privileged'],
  );
});

test('the per-app parts cached between tasks give exactly the environment taskEnvironment builds', () => {
  const apps = [
    parseApp({ id: '/shop/web', cmd: 'serve', env: { A: '1', '42': 'numeric key' }, labels: { tier: 'front', 'x-y': 'z' }, portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }] }, NOW),
    parseApp({ id: '/plain', cmd: 'serve' }, NOW),
    // The app's env names a per-task variable: built per task, the task's value wins as before.
    parseApp({ id: '/own-host', cmd: 'serve', env: { HOST: 'mine', PORT0: 'x' }, portDefinitions: [{ port: 0 }] }, NOW),
  ];
  for (const app of apps) {
    for (const [host, ports] of [
      ['node-1', [31000, 31001]],
      ['node-2', [31005, 31006]],
    ] as const) {
      const info = buildTaskInfo(app, 't', 'a1', host, [...ports].slice(0, app.portDefinitions.length), Resources.parse('cpus:1;mem:128')) as {
        command: { environment: { variables: Array<{ name: string; value: string }> } };
      };
      const expected = Object.entries(taskEnvironment(app, host, [...ports].slice(0, app.portDefinitions.length))).map(([name, value]) => ({ name, type: 'VALUE', value }));
      assert.deepEqual(info.command.environment.variables, expected, app.id);
    }
  }
});

test('secrets become Mesos references in the TaskInfo (env and volume), never values', () => {
  const app = parseApp(
    {
      id: '/db-client',
      cmd: 'run',
      secrets: { s1: { source: '/dev/db-password' } },
      env: { DB_PW: { secret: 's1' }, PLAIN: 'x' },
      container: { type: 'MESOS', volumes: [{ containerPath: 'conf/pw', secret: 's1' }] },
    },
    NOW,
  );
  assert.deepEqual(app.env, { DB_PW: { secret: 's1' }, PLAIN: 'x' });
  const info = buildTaskInfo(app, 'db-client.instance-x._app.1', 'a1', 'node-1', [], Resources.parse('cpus:1;mem:128')) as {
    command: { environment: { variables: Array<Record<string, unknown>> } };
    container: unknown;
  };
  const vars = info.command.environment.variables;
  assert.deepEqual(
    vars.find((v) => v['name'] === 'DB_PW'),
    { name: 'DB_PW', type: 'SECRET', secret: { type: 'REFERENCE', reference: { name: '/dev/db-password' } } },
  );
  assert.deepEqual(
    vars.find((v) => v['name'] === 'PLAIN'),
    { name: 'PLAIN', type: 'VALUE', value: 'x' },
  );
  assert.deepEqual(info.container, {
    type: 'MESOS',
    volumes: [{ container_path: 'conf/pw', mode: 'RO', source: { type: 'SECRET', secret: { type: 'REFERENCE', reference: { name: '/dev/db-password' } } } }],
  });
});

test('port labels (VIP_n) reach the DiscoveryInfo ports, as Marathon passes them', () => {
  const app = parseApp({ id: '/web', cmd: 'x', portDefinitions: [{ port: 0, name: 'http', labels: { VIP_0: '/web:80' } }, { port: 0 }] }, new Date(0));
  const info = buildTaskInfo(app, 't', 'a1', 'h', [31000, 31001], Resources.parse('cpus:1;mem:128;ports:[31000-31001]')) as { discovery: { ports: { ports: unknown[] } } };
  assert.deepEqual(info.discovery.ports.ports, [
    { number: 31000, protocol: 'tcp', name: 'http', labels: { labels: [{ key: 'VIP_0', value: '/web:80' }] } },
    { number: 31001, protocol: 'tcp' },
  ]);
});

test('a bad VIP_n label is refused at the edge with its path', () => {
  assert.throws(
    () => parseApp({ id: '/web', cmd: 'x', portDefinitions: [{ port: 0, labels: { VIP_0: '/web:0' } }] }, new Date(0)),
    (e: { details?: Array<{ path: string; errors: string[] }> }) => e.details?.some((d) => d.path === '/portDefinitions/0/labels/VIP_0' && /1\.\.65535/.test(d.errors[0] ?? '')) === true,
  );
});

test('DiscoveryInfo carries each port’s number, protocol, name and labels (VIP_n for DNS and VIPs), as Marathon sends them', () => {
  const app = parseApp(
    {
      id: '/g/web',
      cmd: 'serve',
      portDefinitions: [
        { port: 0, name: 'http', labels: { VIP_0: '/g/web:80' } },
        { port: 0, protocol: 'udp' },
      ],
    },
    NOW,
  );
  const info = buildTaskInfo(app, 'g_web.instance-x._app.1', 'a1', 'node-1', [31000, 31001], Resources.parse('cpus:1;mem:128;ports:[31000-31001]')) as { discovery: unknown };
  assert.deepEqual(info.discovery, {
    visibility: 'FRAMEWORK',
    name: 'web.g',
    ports: {
      ports: [
        { number: 31000, protocol: 'tcp', name: 'http', labels: { labels: [{ key: 'VIP_0', value: '/g/web:80' }] } },
        { number: 31001, protocol: 'udp' },
      ],
    },
  });
});
