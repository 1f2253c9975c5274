/**
 * `drover lb` end to end: a real `drover dev` running real tasks, a real `drover lb` process
 * following its event stream, and Debian's HAProxy in front of the tasks (test/support/lb-cluster.ts).
 * Routing, labels and refusals; the two rolling deploys under load are in lb-rolling.test.ts, which
 * runs beside this file on a cluster of its own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { eventually, startDrover } from '../devkit/process.ts';
import { httpCall } from './support/http.ts';
import { admin, app, appIdPort, base, deployed, dev, freePort, get, httpPort, post, root, servers, skip, startLbCluster, stopLbCluster } from './support/lb-cluster.ts';

before(async () => {
  if (skip) return;
  await startLbCluster('lb', { servicePorts: 12000, agentPorts: 40000 });
});

after(async () => {
  if (skip) return;
  await stopLbCluster();
});

describe('drover lb on HAProxy', { skip }, () => {
  test('vhost, path, service port and the X-Marathon-App-Id route', async () => {
    await post(app('/site', base, { HAPROXY_0_VHOST: 'site.test' }));
    await post(app('/site-api', base + 1, { HAPROXY_0_VHOST: 'site.test', HAPROXY_0_PATH: '/api' }));
    await deployed('/site', 1);
    await deployed('/site-api', 1);
    await eventually(async () => (await servers(`site_${base}`)).length === 1 && (await servers(`site-api_${base + 1}`)).length === 1, 'both backends filled', 60_000);

    const page = await get(httpPort, '/index.html', { host: 'site.test' });
    assert.equal(page.status, 200);
    assert.match(page.body, /^\/site site\./, 'the vhost routes to /site');
    const api = await get(httpPort, '/api/users', { host: 'SITE.test:80' });
    assert.match(api.body, /^\/site-api site-api\./, 'the path on the same vhost routes to /site-api (host case and port ignored)');
    const unknown = await get(httpPort, '/', { host: 'other.test' });
    assert.equal(unknown.status, 503, 'an unknown vhost has no backend');
    assert.match((await get(base, '/')).body, /^\/site /, 'the service port serves the app directly');
    assert.match((await get(appIdPort, '/', { 'x-marathon-app-id': '/site-api' })).body, /^\/site-api /, 'X-Marathon-App-Id picks the app');
    assert.equal((await get(appIdPort, '/', { 'x-marathon-app-id': '/nope' })).status, 503);

    assert.equal(await admin('/_haproxy_health_check'), 'OK\n');
    assert.match(await admin('/haproxy?stats;csv'), new RegExp(`^site_${base},s1,`, 'm'), 'stats list the slot');
  });

  test('TCP mode', async () => {
    const js = `require('net').createServer((c)=>c.on('data',(d)=>c.end('pong '+String(d).trim()+' '+process.env.MESOS_TASK_ID))).listen(+process.env.PORT0,process.env.LISTEN)`;
    await post(
      app(
        '/echo',
        base + 2,
        { HAPROXY_0_MODE: 'tcp' },
        { cmd: `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(js)}`, healthChecks: [{ protocol: 'TCP', portIndex: 0, intervalSeconds: 1, gracePeriodSeconds: 60 }] },
      ),
    );
    await deployed('/echo', 1);
    await eventually(async () => (await servers(`echo_${base + 2}`)).length === 1, 'the tcp backend filled', 60_000);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(base + 2, '127.0.0.1', () => socket.write('ping\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(answer, /^pong ping echo\./);
    assert.match(await admin('/_haproxy_getconfig'), new RegExp(`frontend echo_${base + 2}\\n\\s+bind 127.0.0.1:${base + 2}\\n\\s+mode tcp`));
  });

  test('hostile labels are refused; the config stays valid and the other apps served', async () => {
    await post({
      id: '/evil',
      cmd: 'exec sleep 300',
      cpus: 0.01,
      mem: 16,
      instances: 0,
      portDefinitions: [{ port: base + 3 }, { port: base + 4 }],
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'evil.test\n    bind :1', HAPROXY_1_BALANCE: 'roundrobin\nlisten x\n    bind :2', HAPROXY_0_BACKEND_HEAD: 'backend y' },
    });
    await eventually(async () => JSON.parse(await admin('/_haproxy_getrefused')).refused.length >= 3, 'the refusals', 60_000);
    const { refused } = JSON.parse(await admin('/_haproxy_getrefused')) as { refused: Array<{ appId: string; label: string; reason: string }> };
    assert.deepEqual(refused.map((r) => `${r.appId} ${r.label}`).sort(), ['/evil HAPROXY_0_BACKEND_HEAD', '/evil HAPROXY_0_VHOST', '/evil HAPROXY_1_BALANCE']);
    const config = await admin('/_haproxy_getconfig');
    assert.doesNotMatch(config, /evil|bind :1|bind :2|listen x/);
    assert.match((await get(base, '/')).body, /^\/site /, 'the other apps are still served');
    assert.equal(JSON.parse(await admin('/_haproxy_getpids')).lastError, null);
  });

  test('a service port another process holds is refused, not a failed reload', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(base + 8, '127.0.0.1', resolve));
    try {
      const created = await httpCall(dev.url, 'POST', '/v2/apps', {
        id: '/squatted',
        cmd: 'exec sleep 300',
        cpus: 0.01,
        mem: 16,
        instances: 0,
        portDefinitions: [{ port: base + 8 }],
        labels: { HAPROXY_GROUP: 'external' },
      });
      assert.equal(created.status, 201);
      const refusal = await eventually(
        async () => (JSON.parse(await admin('/_haproxy_getrefused')) as { refused: Array<{ appId: string; reason: string }> }).refused.find((r) => r.appId === '/squatted'),
        'the busy port refused',
        60_000,
      );
      assert.match(refusal.reason, /in use/);
      assert.equal(JSON.parse(await admin('/_haproxy_getpids')).lastError, null);
      assert.match((await get(base, '/')).body, /^\/site /);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  test("the marathon-lb package's labels through HAProxy: vhost, mode, balance, sticky, bind address, redirect to HTTPS, group and enabled", async () => {
    // Port 0: everything a web app behind marathon-lb says; port 1: a vhost that must be HTTPS (never reaches a task).
    const port0 = base + 7;
    const port1 = base + 10;
    await post(
      app(
        '/mlb',
        port0,
        {
          HAPROXY_0_VHOST: 'mlb.test',
          HAPROXY_0_MODE: 'http',
          HAPROXY_0_BALANCE: 'roundrobin',
          HAPROXY_0_STICKY: 'true',
          HAPROXY_0_BIND_ADDR: '127.0.0.2',
          HAPROXY_1_VHOST: 'secure.test',
          HAPROXY_1_REDIRECT_TO_HTTPS: 'true',
        },
        {
          instances: 2,
          portDefinitions: [
            { port: port0, protocol: 'tcp' },
            { port: port1, protocol: 'tcp' },
          ],
        },
      ),
    );
    // Left out: another group, and a port that says it is not enabled.
    await post({
      id: '/mlb-internal',
      cmd: 'exec sleep 300',
      cpus: 0.01,
      mem: 16,
      instances: 0,
      portDefinitions: [{ port: 0 }],
      labels: { HAPROXY_GROUP: 'internal', HAPROXY_0_VHOST: 'internal.test' },
    });
    await post({
      id: '/mlb-off',
      cmd: 'exec sleep 300',
      cpus: 0.01,
      mem: 16,
      instances: 0,
      portDefinitions: [{ port: 0 }],
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_ENABLED: 'false', HAPROXY_0_VHOST: 'off.test' },
    });
    await deployed('/mlb', 2);
    await eventually(async () => (await servers(`mlb_${port0}`)).length === 2, 'both instances in the backend', 60_000);

    const config = await admin('/_haproxy_getconfig');
    assert.match(config, new RegExp(`frontend mlb_${port0}\\n\\s+bind 127\\.0\\.0\\.2:${port0}\\n\\s+mode http`), 'HAPROXY_0_BIND_ADDR');
    assert.doesNotMatch(config, /mlb-internal|mlb-off|internal\.test|off\.test/, 'another group and ENABLED=false are not served');

    const ask = (host: string, port: number, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> =>
      new Promise((resolve, reject) => {
        const req = request({ host, port, path: '/x?y=1', headers, agent: false, timeout: 30_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end();
      });
    const taskOf = (body: string): string => body.split(' ')[1] ?? '';

    // Round robin without the cookie: both instances answer; each answer sets the sticky cookie.
    const first = await ask('127.0.0.1', httpPort, { host: 'mlb.test' });
    assert.equal(first.status, 200);
    const cookie = String(first.headers['set-cookie'] ?? '');
    assert.match(cookie, /^mesosphere_server_id=s\d+;/, 'HAPROXY_0_STICKY sets the server cookie');
    const spread = new Set<string>([taskOf(first.body)]);
    for (let i = 0; i < 6; i++) spread.add(taskOf((await ask('127.0.0.1', httpPort, { host: 'mlb.test' })).body));
    assert.equal(spread.size, 2, `roundrobin reaches both instances: ${[...spread].join(', ')}`);
    // With the cookie: always the same instance, through the vhost and through the service port.
    const pinned = new Set<string>();
    for (let i = 0; i < 4; i++) pinned.add(taskOf((await ask('127.0.0.1', httpPort, { host: 'mlb.test', cookie: cookie.split(';')[0]! })).body));
    for (let i = 0; i < 4; i++) pinned.add(taskOf((await ask('127.0.0.2', port0, { cookie: cookie.split(';')[0]! })).body));
    assert.deepEqual([...pinned], [taskOf(first.body)], 'sticky: every request with the cookie reaches the first instance');
    // Bound on 127.0.0.2 only.
    await assert.rejects(ask('127.0.0.1', port0, {}), /ECONNREFUSED/);

    // HAPROXY_1_REDIRECT_TO_HTTPS: the vhost and the service port answer 301 to https.
    const redirect = await ask('127.0.0.1', httpPort, { host: 'secure.test' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers['location'], 'https://secure.test/x?y=1');
    const onPort = await ask('127.0.0.1', port1, { host: 'secure.test' });
    assert.equal(onPort.status, 301);
    assert.match(String(onPort.headers['location']), /^https:\/\/secure\.test\/x\?y=1$/);
    // The first vhost is not redirected.
    assert.equal((await ask('127.0.0.1', httpPort, { host: 'mlb.test' })).status, 200);
  });

  test('drover dev runs drover lb beside it when haproxy is installed, and --no-lb does not', async () => {
    const appIdPort2 = await freePort();
    const withLb = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--lb-app-id-port', String(appIdPort2), '--data-dir', join(root, 'dev-lb'), '--resources', 'cpus:1;mem:256;disk:100']);
    try {
      const adminUrl = await eventually(() => /load balancer \(HAProxy\) admin at (http:\/\/\S+)/.exec(withLb.output())?.[1], 'the LB admin URL', 60_000);
      assert.equal(await (await fetch(`${adminUrl}/_haproxy_health_check`)).text(), 'OK\n');
      const created = await httpCall(withLb.url, 'POST', '/v2/apps', { id: '/quiet', cmd: 'exec sleep 300', cpus: 0.01, mem: 16, instances: 0, portDefinitions: [{ port: base + 9 }] });
      assert.equal(created.status, 201);
      // dev serves every group, binding service ports on its --host.
      await eventually(
        async () => (await (await fetch(`${adminUrl}/_haproxy_getconfig`)).text()).includes(`frontend quiet_${base + 9}\n    bind 127.0.0.1:${base + 9}`),
        'the app on the dev LB',
        60_000,
      );
    } finally {
      await withLb.stop();
    }
    assert.doesNotMatch(dev.output(), /load balancer/, 'the --no-lb cluster has none');
  });
});
