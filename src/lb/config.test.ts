import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ConfigOptions, renderConfig, shapeOf, type SlotTable } from './config.ts';
import { buildModel, type MarathonApp } from './model.ts';

const options: ConfigOptions = { socketPath: '/run/lb/haproxy.sock', httpPort: 80, httpsPort: 443, appIdPort: 9091, bindAddr: '*', maxconn: 4096 };
const hostIps = new Map([['agent-1', '10.0.0.1']]);
const task = (id: string, port: number) => ({ id, host: 'agent-1', ports: [port], state: 'TASK_RUNNING' });
const apps: MarathonApp[] = [
  { id: '/web', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.example.com' }, portDefinitions: [{ port: 10000 }], tasks: [task('w1', 31001), task('w2', 31002)] },
  {
    id: '/api',
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.example.com', HAPROXY_0_PATH: '/api', HAPROXY_0_STICKY: 'true' },
    portDefinitions: [{ port: 10001 }],
    tasks: [task('a1', 31003)],
  },
  { id: '/db', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_MODE: 'tcp', HAPROXY_0_BIND_ADDR: '127.0.0.1' }, portDefinitions: [{ port: 10002 }], tasks: [] },
];
const model = buildModel(apps, { groups: ['external'], bindAddr: '*', reservedPorts: [80, 443, 9091], hostIps });
const tables = (w: SlotTable): Map<string, SlotTable> =>
  new Map<string, SlotTable>([
    ['web_10000', w],
    ['api_10001', [model.services.find((s) => s.appId === '/api')!.servers[0]!, null]],
    ['db_10002', [null, null]],
  ]);
const web = model.services.find((s) => s.appId === '/web')!.servers;

test('the config: master-worker with an admin socket, frontends per service port, vhost and app-id routing', () => {
  const text = renderConfig(model, tables([web[0]!, web[1]!, null, null]), options);
  assert.match(text, /^\s+master-worker$/m);
  assert.match(text, /stats socket \/run\/lb\/haproxy.sock mode 600 level admin expose-fd listeners/);
  assert.match(text, /frontend web_10000\n\s+bind \*:10000\n\s+mode http\n\s+option httplog\n\s+default_backend web_10000/);
  assert.match(text, /frontend db_10002\n\s+bind 127.0.0.1:10002\n\s+mode tcp/);
  assert.match(text, /frontend marathon_http_in\n\s+bind \*:80/);
  // The path route comes before the host-only one on the shared vhost.
  const http = text.slice(text.indexOf('frontend marathon_http_in'), text.indexOf('frontend marathon_http_appid_in'));
  assert.ok(http.indexOf('use_backend api_10001') < http.indexOf('use_backend web_10000'), http);
  assert.match(http, /acl path_api_10001 path_beg \/api/);
  assert.match(text, /frontend marathon_http_appid_in\n\s+bind \*:9091/);
  assert.match(text, /acl app_web_10000 hdr\(x-marathon-app-id\) -m str \/web/);
  assert.doesNotMatch(text, /app_db_10002/, 'tcp apps have no app-id route');
  assert.doesNotMatch(text, /marathon_https_in/, 'no certificates, no https frontend');
  // Slots: filled ones with their address, the rest one template of disabled servers.
  assert.match(text, /backend web_10000\n(?:.*\n)*?\s+server s1 10.0.0.1:31001\n\s+server s2 10.0.0.1:31002\n\s+server-template s 3-4 127.0.0.1:1 disabled\n/);
  // Sticky: a cookie per slot, so every slot is a line of its own.
  assert.match(text, /cookie mesosphere_server_id insert indirect nocache/);
  assert.match(text, /server s1 10.0.0.1:31003 cookie s1\n\s+server s2 127.0.0.1:1 disabled cookie s2/);
});

test('the shape ignores which instances fill the slots, but not the slot counts, vhosts or settings', () => {
  const counts = new Map([
    ['web_10000', 4],
    ['api_10001', 2],
    ['db_10002', 2],
  ]);
  const shape = shapeOf(model, counts, options);
  const other = buildModel(
    apps.map((a) => (a.id === '/web' ? { ...a, tasks: [task('w9', 31009)] } : a)),
    { groups: ['external'], bindAddr: '*', reservedPorts: [], hostIps },
  );
  assert.equal(shapeOf(other, counts, options), shape, 'other instances: same shape (no reload)');
  assert.notEqual(shapeOf(model, new Map([...counts, ['web_10000', 8]]), options), shape, 'more slots: a reload');
  const moved = buildModel(
    apps.map((a) => (a.id === '/web' ? { ...a, labels: { ...a.labels, HAPROXY_0_VHOST: 'www.example.com' } } : a)),
    { groups: ['external'], bindAddr: '*', reservedPorts: [], hostIps },
  );
  assert.notEqual(shapeOf(moved, counts, options), shape, 'another vhost: a reload');
});

test('certificates bind the https frontend; REDIRECT_TO_HTTPS redirects on http', () => {
  const tls = buildModel([{ ...apps[0]!, labels: { ...apps[0]!.labels, HAPROXY_0_SSL_CERT: '/etc/ssl/web.pem', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' } }], {
    groups: ['external'],
    bindAddr: '*',
    reservedPorts: [],
    hostIps,
  });
  const text = renderConfig(tls, new Map([['web_10000', [null]]]), options);
  assert.match(text, /frontend marathon_https_in\n\s+bind \*:443 ssl crt \/etc\/ssl\/web.pem/);
  assert.match(text, /redirect scheme https code 301 if !\{ ssl_fc \} host_web_10000/);
});
