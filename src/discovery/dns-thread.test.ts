/**
 * The DNS server in its own thread (dns-thread.ts): the replica follows the zone (a change is
 * seen by the next query once posted), recovery turns SERVFAIL into NXDOMAIN, and — the point of
 * the thread — answers come while this thread is blocked: the real `dig` is run synchronously
 * (execFileSync), so nothing in this thread can answer it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lookup } from './dns-client.ts';
import { DnsThread } from './dns-thread.ts';
import { Zone } from './zone.ts';

const zone = new Zone();
let recovered = false;
let server: DnsThread;
const at = () => ({ host: '127.0.0.1', port: server.port });

before(async () => {
  zone.set('before', [{ type: 'A', name: 'early.marathon.mesos', ip: '10.0.0.1' }]);
  server = new DnsThread({ zone, domain: 'mesos', recovered: () => recovered, port: 0, host: '127.0.0.1', upstreams: [] });
  await server.listen();
});
after(async () => {
  await server.close();
});

/** Asks until `check` holds (the change travels to the thread by message); bounded. */
async function until(name: string, check: (a: Awaited<ReturnType<typeof lookup>>) => boolean): Promise<Awaited<ReturnType<typeof lookup>>> {
  let last: Awaited<ReturnType<typeof lookup>> | undefined;
  for (let i = 0; i < 600; i++) {
    last = await lookup(at(), name, 'A', { timeoutMs: 5000 });
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${name}: last answer ${JSON.stringify(last)}`);
}

test('the zone as it was at the start, then its changes; SERVFAIL for unknown names until recovered, NXDOMAIN after', async () => {
  assert.deepEqual(
    (await lookup(at(), 'early.marathon.mesos', 'A')).answers.map((a) => a.data),
    ['10.0.0.1'],
  );
  assert.equal((await lookup(at(), 'nothing.marathon.mesos', 'A')).rcode, 'SERVFAIL');
  zone.set('task', [{ type: 'A', name: 'web.marathon.mesos', ip: '10.0.0.7' }]);
  await until('web.marathon.mesos', (a) => a.answers.length === 1);
  zone.set('task', [{ type: 'A', name: 'web.marathon.mesos', ip: '10.0.0.8' }]);
  const moved = await until('web.marathon.mesos', (a) => a.answers[0]?.data === '10.0.0.8');
  assert.deepEqual(
    moved.answers.map((a) => a.data),
    ['10.0.0.8'],
  );
  recovered = true;
  // Posted with the next change, or by the recovery check (every 250 ms).
  await until('nothing.marathon.mesos', (a) => a.rcode === 'NXDOMAIN');
  zone.set('task', []);
  await until('web.marathon.mesos', (a) => a.rcode === 'NXDOMAIN');
  const counters = await server.counters();
  assert.ok(counters.nxdomain >= 2 && counters.servfail >= 1, JSON.stringify(counters));
});

test('answers while this thread is blocked: dig run synchronously gets its answer over UDP and TCP', async () => {
  zone.set('blocked', [{ type: 'A', name: 'busy.marathon.mesos', ip: '10.0.0.9' }]);
  await until('busy.marathon.mesos', (a) => a.answers.length === 1);
  for (const transport of ['+notcp', '+tcp']) {
    // execFileSync blocks this thread's event loop until dig exits: only the DNS thread can answer.
    const out = execFileSync('dig', ['@127.0.0.1', '-p', String(server.port), 'busy.marathon.mesos', 'A', '+short', '+time=3', '+tries=1', transport], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(out.trim(), '10.0.0.9', transport);
  }
});
