/**
 * Discovery's pure parts: Mesos-DNS names (labels, the instance hash, group folding), VIP labels,
 * the records of a task and of the cluster, and the zone kept incrementally (always equal to the
 * records computed from scratch).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentTail, frameworkLabel, instanceLabel, label, taskHash, zbase32 } from './names.ts';
import { DEFAULT_VIP_RANGE, defaultVipAddress } from '../protocol/vip-labels.ts';
import { parseVipRange, vipAddressOf, vipTable } from '../agent/vip/table.ts';
import { type AgentView, clusterRecords, type FrameworkView, published, type TaskView, taskRecords, type ZoneConfig, type ZoneRecord } from './records.ts';
import { Zone } from './zone.ts';

const config: ZoneConfig = { domain: 'mesos', nsIp: '10.0.0.1', vipAddress: (name) => `11.0.0.${name.length}` };
const agent: AgentView = { id: '20150707-153709-201330860-5050-12052-S3', ip: '10.0.0.7', port: 5051, active: true };
const marathon: FrameworkView = { id: 'fw-1', name: 'marathon', ip: '10.0.0.1', port: 5050 };

function task(extra: Partial<TaskView> = {}): TaskView {
  return {
    id: 'prod_web.instance-1._app.1',
    frameworkId: 'fw-1',
    agentId: agent.id,
    name: 'web.prod',
    state: 'TASK_RUNNING',
    hasHealthCheck: false,
    hostPorts: [31000, 31001],
    discoveryPorts: [
      { number: 31000, protocol: 'tcp', name: 'http', labels: { VIP_0: '/prod/web:80' } },
      { number: 31001, protocol: 'udp,tcp' },
    ],
    ips: [],
    ...extra,
  };
}

const byName = (records: ZoneRecord[], name: string) => records.filter((r) => r.name === name);

test('labels follow Mesos-DNS (RFC 1123): lower case, dots to dashes, invalid characters dropped, 63 at most', () => {
  assert.equal(label('web.prod'), 'web-prod');
  assert.equal(label('web.b.a'), 'web-b-a', 'Marathon names /a/b/web `web.b.a`');
  assert.equal(label('My_App!.x'), 'myapp-x');
  assert.equal(label('-edge-'), 'edge');
  assert.equal(label('a'.repeat(100)).length, 63);
  assert.equal(frameworkLabel('my.Framework'), 'my.framework', 'framework names keep their dots');
});

test('the instance hash is z-base-32 of SHA-1, and the agent tail the last field of its id', () => {
  // The z-base-32 specification's example: 0xF0BFC7 → "6n9hq".
  assert.equal(zbase32(Buffer.from([0xf0, 0xbf, 0xc7])), '6n9hq');
  assert.equal(taskHash('x').length, 5);
  assert.match(taskHash('prod_web.instance-1._app.1'), /^[ybndrfg8ejkmcpqxot1uwisza345h769]{5}$/);
  assert.equal(agentTail('20150707-153709-201330860-5050-12052-S3'), 's3');
  assert.equal(instanceLabel('web-prod', 'id', 'a-S0'), `web-prod-${taskHash('id')}-s0`);
});

test('a VIP name answers the address every agent programs for it (one parser, one hash: src/protocol/vip-labels.ts)', () => {
  const labels = { VIP_0: '/mygroup/MyApp:80' };
  const records = taskRecords({ ...task(), discoveryPorts: [{ number: 31000, protocol: 'tcp', labels }] }, agent, marathon, { ...config, vipAddress: defaultVipAddress });
  const answered = byName(records, 'mygroupmyapp.marathon.l4lb.thisdcos.directory').map((r) => (r as { ip: string }).ip);
  const range = parseVipRange(DEFAULT_VIP_RANGE);
  assert.ok(typeof range !== 'string');
  const table = vipTable([{ taskId: 't', state: 'TASK_RUNNING', agentIp: '10.0.0.7', ports: [{ number: 31000, protocol: 'tcp', labels }] }], range);
  assert.deepEqual(answered, [vipAddressOf(table, '/mygroup/myapp')]);
  assert.match(answered[0] ?? '', /^11\.\d+\.\d+\.\d+$/);
  // Bad or address labels give no name.
  const none = taskRecords({ ...task(), discoveryPorts: [{ number: 31000, protocol: 'tcp', labels: { VIP_0: '/x:0', VIP_1: '10.0.0.1:80', HAPROXY_0_VHOST: 'a:1' } }] }, agent, marathon, config);
  assert.equal(none.filter((r) => r.name.includes('.l4lb.')).length, 0);
});

test('a running task: A under the framework (task and instance names, .slave. ones), SRV per discovery port, DC/OS zones, VIP', () => {
  const records = taskRecords(task(), agent, marathon, config);
  const canonical = instanceLabel('web-prod', task().id, agent.id);
  assert.deepEqual(
    byName(records, 'web-prod.marathon.mesos').map((r) => (r as { ip: string }).ip),
    ['10.0.0.7'],
  );
  assert.equal(byName(records, `${canonical}.marathon.mesos`).length, 1);
  assert.equal(byName(records, 'web-prod.marathon.slave.mesos').length, 1);
  assert.deepEqual(byName(records, '_web-prod._tcp.marathon.mesos'), [
    { type: 'SRV', name: '_web-prod._tcp.marathon.mesos', target: `${canonical}.marathon.mesos`, port: 31000, priority: 0, weight: 1 },
    { type: 'SRV', name: '_web-prod._tcp.marathon.mesos', target: `${canonical}.marathon.mesos`, port: 31001, priority: 0, weight: 1 },
  ]);
  assert.equal(byName(records, '_web-prod._udp.marathon.mesos').length, 1, 'the udp,tcp port only');
  assert.equal(byName(records, '_http._web-prod._tcp.marathon.mesos').length, 1, 'a named port');
  assert.equal(byName(records, '_web-prod._udp.marathon.slave.mesos').length, 2, 'host ports on both protocols under .slave.');
  for (const zone of ['agentip', 'containerip', 'autoip']) assert.equal(byName(records, `web-prod.marathon.${zone}.dcos.thisdcos.directory`).length, 1, zone);
  assert.deepEqual(byName(records, 'prodweb.marathon.l4lb.thisdcos.directory'), [{ type: 'A', name: 'prodweb.marathon.l4lb.thisdcos.directory', ip: '11.0.0.9' }]);
});

test('a container task: its own address for the task name and containerip/autoip, the agent for agentip and .slave.', () => {
  const records = taskRecords(task({ ips: ['172.16.0.5'] }), agent, marathon, config);
  const ip = (name: string) => byName(records, name).map((r) => (r as { ip: string }).ip);
  assert.deepEqual(ip('web-prod.marathon.mesos'), ['172.16.0.5']);
  assert.deepEqual(ip('web-prod.marathon.slave.mesos'), ['10.0.0.7']);
  assert.deepEqual(ip('web-prod.marathon.autoip.dcos.thisdcos.directory'), ['172.16.0.5']);
  assert.deepEqual(ip('web-prod.marathon.agentip.dcos.thisdcos.directory'), ['10.0.0.7']);
});

test('only RUNNING tasks, and with a health check only healthy ones, are published', () => {
  assert.equal(published(task()), true);
  for (const state of ['TASK_STAGING', 'TASK_STARTING', 'TASK_KILLING', 'TASK_KILLED', 'TASK_UNREACHABLE']) assert.deepEqual(taskRecords(task({ state }), agent, marathon, config), [], state);
  assert.equal(published(task({ hasHealthCheck: true })), false, 'not before its check answered');
  assert.equal(published(task({ hasHealthCheck: true, healthy: false })), false);
  assert.equal(published(task({ hasHealthCheck: true, healthy: true })), true);
  assert.deepEqual(taskRecords(task(), undefined, marathon, config), [], 'no agent address, no records');
});

test('a task without DiscoveryInfo ports: SRV from its host ports on tcp and udp, to the .slave. name', () => {
  const records = taskRecords(task({ discoveryPorts: [] }), agent, marathon, config);
  const srv = byName(records, '_web-prod._tcp.marathon.mesos');
  assert.equal(srv.length, 2);
  assert.match((srv[0] as { target: string }).target, /\.marathon\.slave\.mesos$/);
});

test('cluster names: leader, master, slave, framework schedulers, ns1', () => {
  const records = clusterRecords({ ip: '10.0.0.1', port: 5050 }, [{ ip: '10.0.0.1', port: 5050 }], [agent, { ...agent, id: 'b', ip: '10.0.0.8', active: false }], [marathon], config);
  const names = new Set(records.map((r) => r.name));
  for (const n of ['leader.mesos', '_leader._tcp.mesos', '_leader._udp.mesos', 'master.mesos', 'slave.mesos', '_slave._tcp.mesos', 'marathon.mesos', '_framework._tcp.marathon.mesos', 'ns1.mesos'])
    assert.ok(names.has(n), n);
  assert.deepEqual(
    byName(records, 'slave.mesos').map((r) => (r as { ip: string }).ip),
    ['10.0.0.7'],
    'an inactive agent is left out',
  );
});

test('the zone: sources replaced and removed; always the union of their records; empty non-terminals known', () => {
  const zone = new Zone();
  const t1 = taskRecords(task(), agent, marathon, config);
  const t2 = taskRecords(task({ id: 'prod_web.instance-2._app.1', agentId: 'x-S9' }), { ...agent, id: 'x-S9', ip: '10.0.0.9' }, marathon, config);
  zone.set('t1', t1);
  zone.set('t2', t2);
  assert.deepEqual([...(zone.lookup('web-prod.marathon.mesos')?.a ?? [])].sort(), ['10.0.0.7', '10.0.0.9']);
  assert.equal(zone.lookup('_web-prod._tcp.marathon.mesos')?.srv.length, 4);
  assert.equal(zone.hasUnder('marathon.mesos'), true);
  const generation = zone.generation;
  zone.set('t1', t1);
  assert.equal(zone.generation, generation, 'the same records change nothing');
  zone.set('t1', []);
  assert.deepEqual(zone.lookup('web-prod.marathon.mesos')?.a, ['10.0.0.9']);
  assert.equal(zone.lookup('prodweb.marathon.l4lb.thisdcos.directory')?.a.length, 1, 'the VIP stays while a backend runs');
  zone.set('t2', []);
  assert.equal(zone.lookup('web-prod.marathon.mesos'), undefined);
  assert.equal(zone.hasUnder('marathon.mesos'), false);
  assert.deepEqual(zone.names(), []);
  // Built in any order, the zone is the union.
  const a = new Zone();
  a.set('t2', t2);
  a.set('t1', t1);
  const b = new Zone();
  b.set('t1', t1);
  b.set('t2', t2);
  assert.deepEqual(a.names(), b.names());
});
