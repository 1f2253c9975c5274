import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, type MarathonApp, type ModelOptions } from './model.ts';

const options: ModelOptions = { groups: ['external'], bindAddr: '*', reservedPorts: [80, 9091], hostIps: new Map([['agent-1', '10.0.0.1']]) };
const running = (id: string, port: number, extra: Record<string, unknown> = {}) => ({ id, host: 'agent-1', ports: [port], state: 'TASK_RUNNING', ...extra });

function app(id: string, labels: Record<string, string>, extra: Partial<MarathonApp> = {}): MarathonApp {
  return { id, labels: { HAPROXY_GROUP: 'external', ...labels }, portDefinitions: [{ port: 10000 }], tasks: [running(`${id.slice(1)}.1`, 31001)], ...extra };
}

test('an app in the group becomes one service per port, with marathon-lb defaults', () => {
  const { services, refused } = buildModel([app('/prod/web', { HAPROXY_0_VHOST: 'Web.Example.com, api.example.com', HAPROXY_0_PATH: '/api' })], options);
  assert.deepEqual(refused, []);
  assert.equal(services.length, 1);
  const s = services[0]!;
  assert.equal(s.backend, 'prod_web_10000');
  assert.equal(s.servicePort, 10000);
  assert.equal(s.mode, 'http', 'a vhost means http');
  assert.equal(s.balance, 'roundrobin');
  assert.deepEqual(s.vhosts, ['web.example.com', 'api.example.com']);
  assert.equal(s.path, '/api');
  assert.deepEqual(s.servers, [{ taskId: 'prod/web.1', ip: '10.0.0.1', port: 31001 }]);
});

test('groups: other groups and apps without one are left out unless --group *', () => {
  const on = (port: number) => ({ portDefinitions: [{ port }] });
  const apps = [
    app('/a', {}),
    app('/b', { HAPROXY_GROUP: 'internal' }, on(10001)),
    { ...app('/c', {}, on(10002)), labels: {} },
    app('/d', { HAPROXY_GROUP: 'internal', HAPROXY_0_GROUP: 'external' }, on(10003)),
  ];
  assert.deepEqual(
    buildModel(apps, options).services.map((s) => s.appId),
    ['/a', '/d'],
  );
  assert.deepEqual(
    buildModel(apps, { ...options, groups: ['*'] }).services.map((s) => s.appId),
    ['/a', '/b', '/c', '/d'],
  );
});

test('HAPROXY_{n}_ENABLED: false leaves a port out; strict mode (marathon-lb --strict-mode) serves only ports saying true', () => {
  const on = (port: number) => ({ portDefinitions: [{ port }] });
  const apps = [app('/plain', {}), app('/on', { HAPROXY_0_ENABLED: 'true' }, on(10001)), app('/off', { HAPROXY_0_ENABLED: 'false' }, on(10002))];
  assert.deepEqual(
    buildModel(apps, options).services.map((s) => s.appId),
    ['/on', '/plain'],
  );
  assert.deepEqual(
    buildModel(apps, { ...options, strictMode: true }).services.map((s) => s.appId),
    ['/on'],
  );
});

test('only RUNNING instances take traffic, and with health checks only healthy ones', () => {
  const tasks = [
    running('t1', 31001),
    running('t2', 31002, { state: 'TASK_KILLING' }),
    running('t3', 31003, { state: 'TASK_STARTING' }),
    running('t4', 31004, { healthCheckResults: [{ alive: false }] }),
    running('t5', 31005, { healthCheckResults: [{ alive: true }] }),
    { ...running('t6', 31006), host: 'unknown-host' },
  ];
  const plain = buildModel([app('/a', {}, { tasks })], options).services[0]!;
  assert.deepEqual(
    plain.servers.map((s) => s.taskId),
    ['t1', 't4', 't5'],
    'no health checks: RUNNING is enough (t6: its host did not resolve)',
  );
  const checked = buildModel([app('/a', {}, { tasks, healthChecks: [{ protocol: 'HTTP' }] })], options).services[0]!;
  assert.deepEqual(
    checked.servers.map((s) => s.taskId),
    ['t5'],
    'health checks: only alive ones (t1 has no result yet)',
  );
});

test('service port: servicePorts, then the port mapping, then the port definition; HAPROXY_n_PORT overrides', () => {
  const base: MarathonApp = { id: '/x', labels: { HAPROXY_GROUP: 'external' }, tasks: [] };
  assert.equal(buildModel([{ ...base, portDefinitions: [{ port: 10001 }] }], options).services[0]!.servicePort, 10001);
  assert.equal(buildModel([{ ...base, container: { portMappings: [{ containerPort: 80, servicePort: 10002 }] } }], options).services[0]!.servicePort, 10002);
  assert.equal(buildModel([{ ...base, portDefinitions: [{ port: 10001 }], servicePorts: [10003] }], options).services[0]!.servicePort, 10003);
  assert.equal(buildModel([{ ...base, labels: { ...base.labels, HAPROXY_0_PORT: '10004' }, portDefinitions: [{ port: 10001 }] }], options).services[0]!.servicePort, 10004);
  assert.equal(buildModel([{ ...base, portDefinitions: [{ port: 0 }] }], options).services.length, 0, 'no service port: nothing to bind');
});

test('per-port settings: tcp, balance, sticky, redirect, certs, bind address, disabled ports', () => {
  const two: MarathonApp = {
    id: '/db',
    labels: {
      HAPROXY_GROUP: 'external',
      HAPROXY_0_MODE: 'tcp',
      HAPROXY_0_BALANCE: 'leastconn',
      HAPROXY_0_BIND_ADDR: '127.0.0.1',
      HAPROXY_1_ENABLED: 'false',
    },
    portDefinitions: [{ port: 10010 }, { port: 10011 }],
    tasks: [],
  };
  const [s, ...rest] = buildModel([two], options).services;
  assert.equal(rest.length, 0, 'port 1 is disabled');
  assert.equal(s!.mode, 'tcp');
  assert.equal(s!.balance, 'leastconn');
  assert.equal(s!.bindAddr, '127.0.0.1');
  const web = buildModel([app('/w', { HAPROXY_0_VHOST: 'w.example.com', HAPROXY_0_STICKY: 'true', HAPROXY_0_REDIRECT_TO_HTTPS: 'true', HAPROXY_0_SSL_CERT: '/etc/ssl/w.pem' })], options).services[0]!;
  assert.equal(web.sticky, true);
  assert.equal(web.redirectToHttps, true);
  assert.deepEqual(web.sslCerts, ['/etc/ssl/w.pem']);
});

test('hostile labels are refused with a reason and never reach the model', () => {
  const hostile: Array<[string, string]> = [
    ['HAPROXY_0_VHOST', 'a.example.com\n    bind :1'],
    ['HAPROXY_0_VHOST', 'a.example.com b.example.com'],
    ['HAPROXY_0_VHOST', 'x'.repeat(2000)],
    ['HAPROXY_0_PATH', '/a b'],
    ['HAPROXY_0_PATH', '/a\nuse_backend x'],
    ['HAPROXY_0_PATH', 'no-slash'],
    ['HAPROXY_0_PATH', "/a'"],
    ['HAPROXY_0_PATH', '/a${HOME}'],
    ['HAPROXY_0_PATH', '/a#b'],
    ['HAPROXY_0_MODE', 'http\n'],
    ['HAPROXY_0_BALANCE', 'roundrobin\n    server evil 1.2.3.4:80'],
    ['HAPROXY_0_STICKY', 'yes'],
    ['HAPROXY_0_SSL_CERT', '/etc/ssl/../../root/key.pem'],
    ['HAPROXY_0_SSL_CERT', 'relative.pem'],
    ['HAPROXY_0_BIND_ADDR', '0.0.0.0:80 ssl'],
    ['HAPROXY_0_PORT', '70000'],
    ['HAPROXY_0_PORT', '80'],
    ['HAPROXY_0_PORT', '9091'],
    ['HAPROXY_0_GROUP', 'external\n'],
  ];
  for (const [label, value] of hostile) {
    const { services, refused } = buildModel([app('/evil', { [label]: value }), app('/good', {}, { portDefinitions: [{ port: 10100 }] })], options);
    assert.deepEqual(
      services.map((s) => s.appId),
      ['/good'],
      `${label}=${JSON.stringify(value.slice(0, 40))}: the port is out, the other app stays`,
    );
    assert.equal(refused.length, 1, `${label}: one refusal`);
    assert.equal(refused[0]!.appId, '/evil');
    assert.equal(refused[0]!.label, label);
    assert.ok(refused[0]!.reason.length > 0 && !refused[0]!.reason.includes('\n'), 'a one-line reason');
  }
  const badGroup = buildModel([app('/evil', { HAPROXY_GROUP: 'a b' })], { ...options, groups: ['*'] });
  assert.deepEqual(badGroup.services, []);
  assert.equal(badGroup.refused[0]!.label, 'HAPROXY_GROUP');
  const template = buildModel([app('/t', { HAPROXY_0_BACKEND_HEAD: 'backend x\n  server a 1.1.1.1:1' })], options);
  assert.equal(template.services.length, 1, 'a template label is ignored, not taken');
  assert.match(template.refused[0]!.reason, /not supported/);
});

test('a service port taken by one app is refused for the next (in app id order)', () => {
  const { services, refused } = buildModel([app('/b', {}), app('/a', {})], options);
  assert.deepEqual(
    services.map((s) => s.appId),
    ['/a'],
  );
  assert.match(refused[0]!.reason, /already bound for \/a/);
});
