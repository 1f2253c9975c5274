/**
 * DNS end to end: a real `drover dev` (master, agent, real tasks) with its DNS on a free port,
 * asked with the real `dig` (bind9-dnsutils) over UDP and TCP for every record kind; a task's name
 * appears once it runs and goes once it is killed (polled, no timing asserted); a health-checked
 * task is published only while healthy. Also the Mesos-DNS HTTP API and `drover dns lookup`.
 * Restarts and garbage: test/discovery-restart.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DROVER_BIN, eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { httpCall, type HttpAnswer } from './support/http.ts';
import { digAt, freeDnsPort } from './support/dns.ts';
import { instanceLabel } from '../src/discovery/names.ts';

const run = promisify(execFile);
let root: string;
let dev: DroverProcess;
let dnsPort: number;

const devArgs = () => ['dev', '--port', '0', '--agent-port', '0', '--data-dir', root, '--dns-port', String(dnsPort), '--resources', 'cpus:4;mem:4096;disk:1000;ports:[23000-23100]'];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-dns-'));
  dnsPort = await freeDnsPort();
  dev = await startDrover(devArgs());
  await eventually(async () => ((await get('/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered');
});
after(async () => {
  for (const a of ((await get('/v2/apps')).body as { apps: Array<{ id: string }> }).apps) await call('DELETE', `/v2/apps${a.id}?force=true`);
  await eventually(async () => ((await get('/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 30_000).catch(() => undefined);
  await dev.stop();
  await rm(root, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown): Promise<HttpAnswer> => httpCall(dev.url, method, path, body);
const get = (path: string) => call('GET', path);
const dig = (name: string, type = 'A', tcp = false) => digAt(dnsPort, name, type, tcp);

async function tasks(appId: string): Promise<Array<{ id: string; slaveId: string; state: string; ports: number[]; servicePorts: number[]; healthCheckResults?: Array<{ alive: boolean }> }>> {
  return ((await get(`/v2/apps${appId}/tasks`)).body as { tasks: Array<{ id: string; slaveId: string; state: string; ports: number[]; servicePorts: number[] }> }).tasks;
}

describe('cluster names', () => {
  for (const tcp of [false, true]) {
    test(`leader, master, slave and the marathon scheduler over ${tcp ? 'TCP' : 'UDP'}`, async () => {
      assert.deepEqual(
        (await dig('leader.mesos', 'A', tcp)).answers.map((r) => r.data),
        ['127.0.0.1'],
      );
      assert.deepEqual(
        (await dig('master.mesos', 'A', tcp)).answers.map((r) => r.data),
        ['127.0.0.1'],
      );
      const port = Number(new URL(dev.url).port);
      const leaderSrv = await dig('_leader._tcp.mesos', 'SRV', tcp);
      assert.equal(leaderSrv.answers[0]?.data, `0 1 ${port} leader.mesos.`);
      assert.deepEqual(
        leaderSrv.additional.map((r) => [r.name, r.data]),
        [['leader.mesos', '127.0.0.1']],
      );
      assert.deepEqual(
        (await dig('slave.mesos', 'A', tcp)).answers.map((r) => r.data),
        ['127.0.0.1'],
      );
      assert.equal((await dig('_slave._tcp.mesos', 'SRV', tcp)).answers.length, 1);
      await eventually(async () => (await dig('marathon.mesos', 'A', tcp)).answers[0]?.data === '127.0.0.1', 'marathon.mesos');
      assert.equal((await dig('mesos', 'SOA', tcp)).answers[0]?.type, 'SOA');
      assert.equal((await dig('mesos', 'NS', tcp)).answers[0]?.data, 'ns1.mesos.');
      assert.equal((await dig('nothing-here.marathon.mesos', 'A', tcp)).status, 'NXDOMAIN');
    });
  }
});

describe('task names follow the task', () => {
  test('A, SRV, DC/OS and VIP names answer once the task runs and go once it is killed; the HTTP API and the CLI agree', async () => {
    const created = await call('POST', '/v2/apps', {
      id: '/disc/web',
      cmd: 'exec sleep 600',
      cpus: 0.1,
      mem: 32,
      portDefinitions: [{ port: 0, name: 'http', labels: { VIP_0: '/disc/web:80' } }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // The group path is folded as Mesos-DNS folds it: /disc/web → task name web.disc → web-disc.
    const name = 'web-disc.marathon.mesos';
    const [task] = await eventually(async () => {
      const list = await tasks('/disc/web');
      return list.length === 1 && list[0]!.state === 'TASK_RUNNING' ? list : undefined;
    }, 'the task running');
    const a = await eventually(async () => {
      const answer = await dig(name);
      return answer.answers.length > 0 ? answer : undefined;
    }, `${name} answers`);
    assert.deepEqual(
      a.answers.map((r) => [r.name, r.type, r.data]),
      [[name, 'A', '127.0.0.1']],
    );
    for (const tcp of [false, true]) {
      const srv = await dig('_web-disc._tcp.marathon.mesos', 'SRV', tcp);
      assert.equal(srv.answers.length, 1, `SRV over ${tcp ? 'TCP' : 'UDP'}`);
      const [priority, weight, port, target] = srv.answers[0]!.data.split(' ');
      assert.equal(priority, '0');
      assert.equal(weight, '1');
      assert.equal(Number(port), task!.ports[0], 'the SRV port is the task’s host port');
      assert.match(target!, /^web-disc-[ybndrfg8ejkmcpqxot1uwisza345h769]{5}-s\d+\.marathon\.mesos\.$/);
      assert.deepEqual(
        srv.additional.map((r) => r.data),
        ['127.0.0.1'],
      );
      assert.equal((await dig(target!, 'A', tcp)).answers[0]?.data, '127.0.0.1', 'the instance name');
      assert.equal((await dig('_http._web-disc._tcp.marathon.mesos', 'SRV', tcp)).answers.length, 1, 'the named port');
      assert.equal((await dig('web-disc.marathon.slave.mesos', 'A', tcp)).answers[0]?.data, '127.0.0.1');
      for (const zone of ['agentip', 'containerip', 'autoip']) assert.equal((await dig(`web-disc.marathon.${zone}.dcos.thisdcos.directory`, 'A', tcp)).answers[0]?.data, '127.0.0.1', zone);
      const vip = await dig('discweb.marathon.l4lb.thisdcos.directory', 'A', tcp);
      assert.match(vip.answers[0]?.data ?? '', /^11\.\d+\.\d+\.\d+$/, 'the VIP name');
    }
    assert.equal((await dig(name, 'AAAA')).status, 'NOERROR', 'no AAAA: NODATA, not NXDOMAIN');
    // Service ports: assigned from 10000–20000 and shown on the task.
    assert.ok(task!.servicePorts[0]! >= 10000 && task!.servicePorts[0]! <= 20000, `service port ${task!.servicePorts[0]}`);
    // Mesos-DNS' HTTP interface.
    const hosts = await get(`/v1/hosts/${name}`);
    assert.deepEqual(hosts.body, [{ host: `${name}.`, ip: '127.0.0.1' }]);
    const services = (await get('/v1/services/_web-disc._tcp.marathon.mesos')).body as Array<{ port: string; ip: string }>;
    assert.equal(services.length, 1);
    assert.equal(services[0]!.port, String(task!.ports[0]));
    assert.deepEqual((await get('/v1/hosts/none.marathon.mesos')).body, [{ host: '', ip: '' }]);
    assert.equal((await get(`/v1/hosts/${'a'.repeat(300)}`)).status, 422, 'a name over 253 characters');
    assert.deepEqual((await get(`/v1/hosts/${'a'.repeat(200)}.marathon.mesos`)).body, [{ host: '', ip: '' }], 'a long name within bounds is looked up');
    assert.equal((await get('/v1/hosts/bad%20name')).status, 422);
    assert.equal(((await get('/v1/version')).body as { Service: string }).Service, 'Mesos-DNS');
    assert.equal(((await get('/v1/config')).body as { Port: number }).Port, dnsPort);
    // The CLI, through the HTTP API and straight to the DNS server.
    const env = { ...process.env, DROVER_MASTER: dev.url };
    const viaApi = await run(process.execPath, [DROVER_BIN, 'dns', 'lookup', name, '--master', dev.url], { env, timeout: 60_000 });
    assert.match(viaApi.stdout, /web-disc\.marathon\.mesos\.\s+A\s+127\.0\.0\.1/);
    const viaDns = await run(process.execPath, [DROVER_BIN, 'dns', 'lookup', '_web-disc._tcp.marathon.mesos', '--server', `127.0.0.1:${dnsPort}`], { env, timeout: 60_000 });
    assert.match(viaDns.stdout, new RegExp(`SRV\\s+web-disc-\\w+-s\\d+\\.marathon\\.mesos:${task!.ports[0]}`));

    // Killed: the name goes.
    const deleted = await call('DELETE', '/v2/apps/disc/web');
    assert.equal(deleted.status, 200);
    await eventually(async () => (await dig(name)).status === 'NXDOMAIN', `${name} gone after the kill`, 30_000);
    assert.equal((await dig('_web-disc._tcp.marathon.mesos', 'SRV', true)).status, 'NXDOMAIN');
    assert.equal((await dig('discweb.marathon.l4lb.thisdcos.directory')).status, 'NXDOMAIN', 'the VIP without backends');
  });

  test('a task with a health check is published only while healthy', async () => {
    // The check looks for a file in the task's sandbox (its working directory), which the test creates.
    const created = await call('POST', '/v2/apps', {
      id: '/checked',
      cmd: 'exec sleep 600',
      cpus: 0.1,
      mem: 32,
      // maxConsecutiveFailures 0: never killed for failing (Marathon's meaning), so it waits for the file.
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'test -e healthy' }, gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 0 }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // Running but failing its check: no name.
    const [task] = await eventually(
      async () => {
        const list = await tasks('/checked');
        return list[0]?.healthCheckResults?.[0]?.alive === false ? list : undefined;
      },
      'the task running and unhealthy',
      60_000,
    );
    assert.equal(task!.state, 'TASK_RUNNING');
    assert.equal((await dig('checked.marathon.mesos')).status, 'NXDOMAIN');
    // Healthy: published.
    const history = ((await get(`/master/tasks?task_id=${encodeURIComponent(task!.id)}`)).body as { tasks: Array<{ directory?: string }> }).tasks;
    const sandbox = await eventually(() => history[0]?.directory, 'the task’s sandbox');
    await writeFile(join(sandbox, 'healthy'), '');
    await eventually(async () => (await dig('checked.marathon.mesos')).answers.length === 1, 'the healthy task published', 60_000);
    await call('DELETE', '/v2/apps/checked?force=true');
    await eventually(async () => (await dig('checked.marathon.mesos')).status === 'NXDOMAIN', 'gone after the delete', 30_000);
  });

  test('a kill decision takes the name out before the KILL: gone from DNS while the task still runs (drain)', async () => {
    // A drain time longer than the test: the KILL is not sent while we look.
    const created = await call('POST', '/v2/apps', {
      id: '/drained',
      cmd: 'exec sleep 600',
      cpus: 0.1,
      mem: 32,
      instances: 2,
      portDefinitions: [{ port: 0 }],
      labels: { DROVER_DRAIN_SECONDS: '300' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // Both on this one agent: one address, two SRV records (one per instance name).
    const srv = '_drained._tcp.marathon.mesos';
    await eventually(async () => (await dig(srv, 'SRV')).answers.length === 2, 'both instances answer', 60_000);
    const [victim, survivor] = await tasks('/drained');
    const events = new AbortController();
    const seen: string[] = [];
    const stream = fetch(`${dev.url}/v2/events?event_type=drover_instance_draining_event`, { headers: { accept: 'text/event-stream' }, signal: events.signal }).then(async (r) => {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) seen.push(Buffer.from(chunk).toString('utf8'));
    });
    stream.catch(() => undefined);
    try {
      await eventually(() => seen.join('').includes('event_stream_attached') || seen.length > 0 || undefined, 'the event stream open').catch(() => undefined);
      const killed = await call('DELETE', `/v2/apps/drained/tasks/${victim!.id}`);
      assert.equal(killed.status, 200, JSON.stringify(killed.body));
      const left = await eventually(
        async () => {
          const answer = await dig(srv, 'SRV');
          return answer.answers.length === 1 ? answer : undefined;
        },
        'one instance left',
        60_000,
      );
      const name = (t: { id: string; slaveId: string }): string => `${instanceLabel('drained', t.id, t.slaveId)}.marathon.mesos`;
      assert.equal(left.answers[0]!.data.split(' ')[3], `${name(survivor!)}.`, 'the survivor is the one left');
      assert.equal((await dig(name(victim!))).status, 'NXDOMAIN', 'the drained instance’s own name is gone too');
      // The name is gone, and the task has not been sent its KILL: the master still has it RUNNING.
      const master = ((await get(`/master/tasks?task_id=${encodeURIComponent(victim!.id)}`)).body as { tasks: Array<{ state: string }> }).tasks;
      assert.equal(master[0]?.state, 'TASK_RUNNING', 'the master still has the task running (no KILL during the drain)');
      const listed = await tasks('/drained');
      assert.equal(listed.find((t) => t.id === victim!.id)?.state, 'TASK_KILLING', 'the framework shows it KILLING');
      assert.ok(listed.some((t) => t.id === survivor!.id && t.state === 'TASK_RUNNING'));
      const text = await eventually(() => (seen.join('').includes(victim!.id) ? seen.join('') : undefined), 'the draining event', 30_000);
      const frame = text.split('\n\n').find((f) => f.includes('drover_instance_draining_event') && f.includes(victim!.id))!;
      const data = JSON.parse(
        frame
          .split('\n')
          .find((l) => l.startsWith('data:'))!
          .slice(5),
      ) as { appId: string; taskId: string; drainSeconds: number };
      assert.deepEqual([data.appId, data.taskId, data.drainSeconds], ['/drained', victim!.id, 300]);
    } finally {
      events.abort();
      await call('DELETE', '/v2/apps/drained?force=true');
    }
  });
});
