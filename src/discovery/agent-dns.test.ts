/**
 * The agent's resolver over real loopback sockets: names of the discovery zones go to the
 * master's DNS (a real DnsServer with a zone here) and change with it at once (nothing cached),
 * other names go to the host's resolvers (another server, named by a resolv.conf file); the
 * tasks' resolv.conf is written only on port 53. In a real task: test/discovery-tasks.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AgentDns, parseHostPort, taskResolvConf } from './agent-dns.ts';
import { lookup } from './dns-client.ts';
import { DnsServer } from './dns-server.ts';
import { Zone } from './zone.ts';

const masterZone = new Zone();
const hostZone = new Zone();
let master: DnsServer;
let host: DnsServer;
let agent: AgentDns;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-agentdns-'));
  master = new DnsServer({ zone: masterZone, domain: 'mesos', recovered: () => true, port: 0, host: '127.0.0.1', upstreams: [] });
  await master.listen();
  // The "host's resolver" answers example.test only (a resolv.conf cannot name its port: given as upstreams).
  host = new DnsServer({ zone: hostZone, domain: 'example.test', recovered: () => true, port: 0, host: '127.0.0.1', upstreams: [] });
  await host.listen();
  hostZone.set('h', [{ type: 'A', name: 'www.example.test', ip: '192.0.2.10' }]);
  await writeFile(join(dir, 'host-resolv.conf'), 'search corp.example\nnameserver 127.0.0.1\noptions ndots:2\n');
  agent = new AgentDns({
    listen: { host: '127.0.0.1', port: 0 },
    masters: [{ host: '127.0.0.1', port: master.port }],
    dir,
    hostResolvConf: join(dir, 'host-resolv.conf'),
    upstreams: [{ host: '127.0.0.1', port: host.port }],
  });
  await agent.start();
});
after(async () => {
  await agent.close();
  await master.close();
  await host.close();
  await rm(dir, { recursive: true, force: true });
});

test("cluster names are the master's answers, as they change; NXDOMAIN passes through", async () => {
  const at = { host: '127.0.0.1', port: agent.port };
  assert.equal((await lookup(at, 'web.marathon.mesos', 'A')).rcode, 'NXDOMAIN');
  masterZone.set('t', [{ type: 'A', name: 'web.marathon.mesos', ip: '10.0.0.7' }]);
  for (const tcp of [false, true]) {
    assert.deepEqual(
      (await lookup(at, 'web.marathon.mesos', 'A', { tcp })).answers.map((a) => a.data),
      ['10.0.0.7'],
    );
  }
  masterZone.set('t', [{ type: 'A', name: 'web.marathon.l4lb.thisdcos.directory', ip: '11.1.2.3' }]);
  assert.equal((await lookup(at, 'web.marathon.mesos', 'A')).rcode, 'NXDOMAIN', 'gone at once: nothing cached on the agent');
  assert.deepEqual(
    (await lookup(at, 'web.marathon.l4lb.thisdcos.directory', 'A')).answers.map((a) => a.data),
    ['11.1.2.3'],
  );
  assert.ok((agent.counters?.forwarded ?? 0) >= 4);
});

test("other names go to the host's resolvers, cluster names never do", async () => {
  const at = { host: '127.0.0.1', port: agent.port };
  assert.deepEqual(
    (await lookup(at, 'www.example.test', 'A')).answers.map((a) => a.data),
    ['192.0.2.10'],
  );
  const hostQueries = host.counters.queries;
  const masterQueries = master.counters.queries;
  await lookup(at, 'other.marathon.mesos', 'A');
  await lookup(at, 'other.marathon.l4lb.thisdcos.directory', 'A');
  assert.equal(host.counters.queries, hostQueries, 'the host resolver never sees a cluster name');
  assert.equal(master.counters.queries, masterQueries + 2);
});

test('no resolv.conf off port 53; its text keeps the host’s search and options lines', async () => {
  assert.equal(agent.resolvConf, undefined);
  await assert.rejects(stat(join(dir, 'resolv.conf')));
  const text = taskResolvConf({ host: '127.0.0.153', port: 53 }, await readFile(join(dir, 'host-resolv.conf'), 'utf8'));
  assert.deepEqual(
    text.split('\n').filter((l) => l !== '' && !l.startsWith('#')),
    ['nameserver 127.0.0.153', 'search corp.example', 'options ndots:2'],
  );
});

test('off port 53 no gateway is served either (its tasks could not name it)', async () => {
  // 127.0.0.1 is an address of this host: only the port keeps it from being served.
  assert.equal(await agent.resolvConfForGateways(['127.0.0.1']), undefined);
  await assert.rejects(stat(join(dir, 'resolv-127.0.0.1.conf')));
});

test('flags: ADDR:PORT, with reasons', () => {
  assert.deepEqual(parseHostPort('127.0.0.153:53', '--dns'), { host: '127.0.0.153', port: 53 });
  for (const bad of ['127.0.0.1', 'localhost:53', '127.0.0.1:0', '127.0.0.1:70000', '300.0.0.1:53', `${'1'.repeat(100)}:53`]) {
    const r = parseHostPort(bad, '--dns');
    assert.equal(typeof r, 'string', bad);
    assert.match(r as string, /^--dns/);
  }
});
