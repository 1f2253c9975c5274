/**
 * The DNS server over real loopback sockets (UDP and TCP): answers from a zone, NXDOMAIN vs
 * SERVFAIL before recovery, NODATA, truncation to TCP, forwarding to an upstream (another server
 * here), and garbage that must never stop it. The real `dig` and a real master: test/discovery.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { lookup, queryBytes } from './dns-client.ts';
import { DnsServer, parseResolvConf } from './dns-server.ts';
import type { ZoneRecord } from './records.ts';
import { Zone } from './zone.ts';

const zone = new Zone();
let recovered = false;
let server: DnsServer;
const upstreamZone = new Zone();
let upstream: DnsServer;
const at = () => ({ host: '127.0.0.1', port: server.port });

before(async () => {
  upstreamZone.set('u', [{ type: 'A', name: 'www.example.test', ip: '192.0.2.10' }]);
  upstream = new DnsServer({ zone: upstreamZone, domain: 'example.test', recovered: () => true, port: 0, host: '127.0.0.1', upstreams: [] });
  await upstream.listen();
  server = new DnsServer({ zone, domain: 'mesos', recovered: () => recovered, port: 0, host: '127.0.0.1', upstreams: [{ host: '127.0.0.1', port: upstream.port }], forwardTimeoutMs: 5000 });
  await server.listen();
  zone.set('task', [
    { type: 'A', name: 'web.marathon.mesos', ip: '10.0.0.7' },
    { type: 'A', name: 'web-abcde-s0.marathon.mesos', ip: '10.0.0.7' },
    { type: 'SRV', name: '_web._tcp.marathon.mesos', target: 'web-abcde-s0.marathon.mesos', port: 31000, priority: 0, weight: 1 },
  ]);
});
after(async () => {
  await server.close();
  await upstream.close();
});

test('A and SRV (with the target’s address) over UDP and over TCP', async () => {
  for (const tcp of [false, true]) {
    const a = await lookup(at(), 'web.marathon.mesos', 'A', { tcp });
    assert.equal(a.rcode, 'NOERROR');
    assert.deepEqual(
      a.answers.map((r) => r.data),
      ['10.0.0.7'],
    );
    const srv = await lookup(at(), '_web._tcp.marathon.mesos', 'SRV', { tcp });
    assert.deepEqual(srv.answers[0]?.data, { priority: 0, weight: 1, port: 31000, target: 'web-abcde-s0.marathon.mesos' });
    assert.deepEqual(
      srv.additionals.map((r) => [r.name, r.data]),
      [['web-abcde-s0.marathon.mesos', '10.0.0.7']],
    );
  }
  // Case does not matter.
  assert.equal((await lookup(at(), 'WEB.Marathon.MESOS', 'A')).answers.length, 1);
});

test('an unknown name is SERVFAIL until the state is recovered, NXDOMAIN after; a known name without that type is NODATA', async () => {
  recovered = false;
  assert.equal((await lookup(at(), 'nothing.marathon.mesos', 'A')).rcode, 'SERVFAIL');
  assert.equal((await lookup(at(), 'web.marathon.mesos', 'A')).answers.length, 1, 'known names answer meanwhile');
  recovered = true;
  assert.equal((await lookup(at(), 'nothing.marathon.mesos', 'A')).rcode, 'NXDOMAIN');
  const aaaa = await lookup(at(), 'web.marathon.mesos', 'AAAA');
  assert.equal(aaaa.rcode, 'NOERROR');
  assert.equal(aaaa.answers.length, 0);
  assert.equal((await lookup(at(), 'marathon.mesos', 'A')).rcode, 'NOERROR', 'an empty non-terminal exists');
  assert.equal((await lookup(at(), 'mesos', 'SOA')).answers[0]?.type, 'SOA');
});

test('a change is answered by the very next query (no stale cache)', async () => {
  recovered = true;
  assert.equal((await lookup(at(), 'new.marathon.mesos', 'A')).rcode, 'NXDOMAIN');
  zone.set('new', [{ type: 'A', name: 'new.marathon.mesos', ip: '10.0.0.9' }]);
  assert.deepEqual(
    (await lookup(at(), 'new.marathon.mesos', 'A')).answers.map((r) => r.data),
    ['10.0.0.9'],
  );
  zone.set('new', []);
  assert.equal((await lookup(at(), 'new.marathon.mesos', 'A')).rcode, 'NXDOMAIN');
});

test('beforeAnswer runs before every query, cached or not, and what it changes is answered (a replica catching up)', async () => {
  const own = new Zone();
  let pending: Array<[string, ZoneRecord[]]> = [];
  let calls = 0;
  const catching = new DnsServer({
    zone: own,
    domain: 'mesos',
    recovered: () => true,
    port: 0,
    host: '127.0.0.1',
    upstreams: [],
    beforeAnswer: () => {
      calls++;
      for (const [source, records] of pending) own.set(source, records);
      pending = [];
    },
  });
  await catching.listen();
  try {
    const there = { host: '127.0.0.1', port: catching.port };
    assert.equal((await lookup(there, 'late.marathon.mesos', 'A')).rcode, 'NXDOMAIN');
    // Posted, not yet applied: the query itself brings it in.
    pending.push(['t', [{ type: 'A', name: 'late.marathon.mesos', ip: '10.0.0.42' }]]);
    for (const tcp of [false, true]) {
      assert.deepEqual(
        (await lookup(there, 'late.marathon.mesos', 'A', { tcp })).answers.map((a) => a.data),
        ['10.0.0.42'],
      );
    }
    pending.push(['t', []]);
    assert.equal((await lookup(there, 'late.marathon.mesos', 'A')).rcode, 'NXDOMAIN', 'gone with the next query, the cached answer not served');
    assert.equal(calls, 4);
  } finally {
    await catching.close();
  }
});

test('an answer too big for UDP is truncated, and complete over TCP', async () => {
  const many: ZoneRecord[] = [];
  for (let i = 0; i < 100; i++) many.push({ type: 'A', name: 'big.marathon.mesos', ip: `10.1.${Math.floor(i / 250)}.${i % 250}` });
  zone.set('big', many);
  const udp = await lookup(at(), 'big.marathon.mesos', 'A');
  assert.equal(udp.transport, 'tcp', 'the client saw TC and asked again over TCP');
  assert.equal(udp.answers.length, 100);
  zone.set('big', []);
});

test('other names go to the upstream resolver', async () => {
  const answer = await lookup(at(), 'www.example.test', 'A');
  assert.deepEqual(
    answer.answers.map((r) => r.data),
    ['192.0.2.10'],
  );
  assert.equal((await lookup(at(), 'www.example.test', 'A', { tcp: true })).answers.length, 1);
  assert.equal((await lookup(at(), 'gone.example.test', 'A')).rcode, 'NXDOMAIN');
});

test('garbage never stops the server: random bytes, truncated messages, responses, huge TCP frames', async () => {
  const udp = createSocket('udp4');
  const good = queryBytes('web.marathon.mesos', 'A');
  const junk: Buffer[] = [Buffer.alloc(0), Buffer.alloc(5), good.subarray(0, 14), Buffer.concat([good, randomBytes(40)])];
  const response = Buffer.from(good);
  response[2] = response[2]! | 0x80;
  junk.push(response);
  // A name made of a pointer loop.
  const loop = Buffer.from(good.subarray(0, 12));
  loop.writeUInt16BE(1, 4);
  junk.push(Buffer.concat([loop, Buffer.from([0xc0, 12, 0, 1, 0, 1])]));
  for (let i = 0; i < 300; i++) junk.push(randomBytes(1 + Math.floor(Math.random() * 600)));
  for (const j of junk) udp.send(j, server.port, '127.0.0.1');
  await new Promise((resolve) => setTimeout(resolve, 200));
  udp.close();
  // TCP: a frame that claims 64 KiB and sends garbage, and a frame that never ends.
  for (const payload of [Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(70_000)]), Buffer.from([0x00, 0x40, 1, 2, 3])]) {
    await new Promise<void>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: server.port }, () => {
        socket.write(payload);
        socket.end();
      });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
  }
  assert.equal((await lookup(at(), 'web.marathon.mesos', 'A')).answers.length, 1, 'still answering over UDP');
  assert.equal((await lookup(at(), 'web.marathon.mesos', 'A', { tcp: true })).answers.length, 1, 'still answering over TCP');
  assert.ok(server.counters.malformed > 0);
});

test('resolv.conf: up to three nameservers', () => {
  assert.deepEqual(parseResolvConf('# x\nsearch a\nnameserver 10.0.0.2\nnameserver ::1\nnameserver bogus\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n'), [
    { host: '10.0.0.2', port: 53 },
    { host: '::1', port: 53 },
    { host: '1.1.1.1', port: 53 },
  ]);
});
