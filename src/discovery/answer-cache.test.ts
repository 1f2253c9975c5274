/**
 * The DNS server's answer cache (dns-server.ts): a zone change drops exactly the answers that
 * read a name it touched, and nothing cached before a change is served after it (a stale answer
 * is a defect). No sockets: `respond` is the path both transports take after the catch-up.
 *
 * `counters.cached` tells a cached answer from a fresh one, so each case first proves the answer
 * was cached, then changes the zone, then checks the next answer is the new state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { queryBytes } from './dns-client.ts';
import { DnsServer } from './dns-server.ts';
import type { ZoneRecord } from './records.ts';
import { Zone } from './zone.ts';

type Decoded = { rcode: string; answers: string[]; additionals: string[]; authorities: string[] };

function serverOn(zone: Zone): DnsServer {
  return new DnsServer({ zone, domain: 'mesos', recovered: () => true, port: 0, host: '127.0.0.1', upstreams: [] });
}

/** The answer to one question, decoded; record data sorted (several records are rotated). */
async function ask(server: DnsServer, name: string, type: string): Promise<Decoded> {
  const bytes = await server.respond(queryBytes(name, type, 7), 'udp');
  assert.ok(bytes, `${name} ${type}: an answer`);
  const p = dnsPacket.decode(bytes);
  const show = (list: dnsPacket.Answer[] | undefined): string[] =>
    (list ?? [])
      .filter((r) => r.type !== 'OPT')
      .map((r) => `${r.name} ${r.type} ${JSON.stringify((r as { data?: unknown }).data)}`)
      .sort();
  return { rcode: (p as { rcode?: string }).rcode ?? 'NOERROR', answers: show(p.answers), additionals: show(p.additionals), authorities: show(p.authorities) };
}

/** Asks three times: an answer is kept from its second asking, so the third must come from the cache (and equal the first). */
async function cached(server: DnsServer, name: string, type: string): Promise<Decoded> {
  const first = await ask(server, name, type);
  assert.deepEqual(await ask(server, name, type), first);
  const hits = server.counters.cached;
  const second = await ask(server, name, type);
  assert.equal(server.counters.cached, hits + 1, `${name} ${type} was cached`);
  assert.deepEqual(second, first);
  return second;
}

const a = (name: string, ip: string): ZoneRecord => ({ type: 'A', name, ip });
const srv = (name: string, target: string, port: number): ZoneRecord => ({ type: 'SRV', name, target, port, priority: 0, weight: 1 });

test('an answer cached before a change is never served after it: its records, its SRV targets, names appearing below it, ns1, the SOA serial', async () => {
  const zone = new Zone();
  const server = serverOn(zone);
  zone.set('cluster', [a('ns1.mesos', '10.0.0.1'), a('leader.mesos', '10.0.0.1')]);
  zone.set('t1', [a('web.marathon.mesos', '10.0.0.7'), a('web-1.marathon.mesos', '10.0.0.7'), srv('_web._tcp.marathon.mesos', 'web-1.marathon.mesos', 31000)]);

  // The name's own records change.
  assert.deepEqual((await cached(server, 'web.marathon.mesos', 'A')).answers, ['web.marathon.mesos A "10.0.0.7"']);
  zone.set('t2', [a('web.marathon.mesos', '10.0.0.8')]);
  assert.deepEqual((await ask(server, 'web.marathon.mesos', 'A')).answers, ['web.marathon.mesos A "10.0.0.7"', 'web.marathon.mesos A "10.0.0.8"']);

  // An SRV answer carries its target's address: the target moving changes the answer.
  assert.deepEqual((await cached(server, '_web._tcp.marathon.mesos', 'SRV')).additionals, ['web-1.marathon.mesos A "10.0.0.7"']);
  zone.set('t1', [a('web.marathon.mesos', '10.0.0.9'), a('web-1.marathon.mesos', '10.0.0.9'), srv('_web._tcp.marathon.mesos', 'web-1.marathon.mesos', 31000)]);
  assert.deepEqual((await ask(server, '_web._tcp.marathon.mesos', 'SRV')).additionals, ['web-1.marathon.mesos A "10.0.0.9"']);
  // Only the target changes (another source adds an address to it): the SRV name itself is untouched.
  await cached(server, '_web._tcp.marathon.mesos', 'SRV');
  zone.set('t3', [a('web-1.marathon.mesos', '10.0.0.10')]);
  assert.deepEqual((await ask(server, '_web._tcp.marathon.mesos', 'SRV')).additionals, ['web-1.marathon.mesos A "10.0.0.10"', 'web-1.marathon.mesos A "10.0.0.9"']);

  // NXDOMAIN, then a name appears below it: an empty non-terminal (NOERROR, no data).
  assert.equal((await cached(server, 'db.marathon.mesos', 'A')).rcode, 'NXDOMAIN');
  zone.set('t4', [a('x.db.marathon.mesos', '10.0.0.11')]);
  assert.equal((await ask(server, 'db.marathon.mesos', 'A')).rcode, 'NOERROR');
  // … and the last name below it goes: NXDOMAIN again.
  zone.set('t4', []);
  assert.equal((await ask(server, 'db.marathon.mesos', 'A')).rcode, 'NXDOMAIN');

  // A task gone: its name is NXDOMAIN at once.
  assert.equal((await cached(server, 'web-1.marathon.mesos', 'A')).rcode, 'NOERROR');
  zone.set('t1', []);
  zone.set('t3', []);
  assert.equal((await ask(server, 'web-1.marathon.mesos', 'A')).rcode, 'NXDOMAIN');

  // The apex's NS answer carries ns1's address.
  assert.deepEqual((await cached(server, 'mesos', 'NS')).additionals, ['ns1.mesos A "10.0.0.1"']);
  zone.set('cluster', [a('ns1.mesos', '10.0.0.2'), a('leader.mesos', '10.0.0.1')]);
  assert.deepEqual((await ask(server, 'mesos', 'NS')).additionals, ['ns1.mesos A "10.0.0.2"']);

  // A negative answer carries the SOA, whose serial is the zone's generation: any change makes it new.
  const before = await cached(server, 'nothing.marathon.mesos', 'A');
  zone.set('t5', [a('other.marathon.mesos', '10.0.0.12')]);
  const after = await ask(server, 'nothing.marathon.mesos', 'A');
  assert.equal(after.rcode, 'NXDOMAIN');
  assert.notDeepEqual(after.authorities, before.authorities, 'the SOA serial moved on');
  assert.match(after.authorities[0]!, new RegExp(`"serial":${zone.generation}[,}]`));
  await server.close();
});

test('an answer about a name a change did not touch stays cached (a burst does not make every query an encode)', async () => {
  const zone = new Zone();
  const server = serverOn(zone);
  zone.set('cluster', [a('ns1.mesos', '10.0.0.1'), a('leader.mesos', '10.0.0.1')]);
  await cached(server, 'leader.mesos', 'A');
  // A new name asked once is not kept (nobody may ask again); asked again, it is.
  zone.set('once', [a('once.marathon.mesos', '10.0.0.5')]);
  const once = server.counters.cached;
  await ask(server, 'once.marathon.mesos', 'A');
  await ask(server, 'once.marathon.mesos', 'A');
  assert.equal(server.counters.cached, once, 'the first two askings are encoded');
  await ask(server, 'once.marathon.mesos', 'A');
  assert.equal(server.counters.cached, once + 1, 'the third is from the cache');
  for (let i = 0; i < 100; i++) zone.set(`task-${i}`, [a(`web-${i}.marathon.mesos`, '10.0.0.7'), a('web.marathon.mesos', `10.0.1.${i}`)]);
  const hits = server.counters.cached;
  assert.deepEqual((await ask(server, 'leader.mesos', 'A')).answers, ['leader.mesos A "10.0.0.1"']);
  assert.equal(server.counters.cached, hits + 1, 'still cached after 100 unrelated changes');
  await server.close();
});

test('property: after any sequence of changes, every answer equals a server without a cache on the same zone', async () => {
  // A small universe of names, so changes and questions meet often.
  const names = ['web.marathon.mesos', 'web-1.marathon.mesos', 'x.db.marathon.mesos', 'db.marathon.mesos', '_web._tcp.marathon.mesos', 'ns1.mesos', 'mesos'];
  const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
  // Each name with the type it is asked for (an SRV answer reads its targets' addresses), and a few mismatched types (NODATA).
  const questions = [...names.map((n) => [n, n.startsWith('_') ? 'SRV' : n === 'mesos' ? 'NS' : 'A'] as const), ['mesos', 'SOA'] as const, ['web.marathon.mesos', 'SRV'] as const];
  const record = fc.oneof(
    fc.record({ type: fc.constant('A' as const), name: fc.constantFrom(...names.slice(0, 3), 'ns1.mesos'), ip: fc.constantFrom(...ips) }),
    fc.record({
      type: fc.constant('SRV' as const),
      name: fc.constant('_web._tcp.marathon.mesos'),
      target: fc.constantFrom('web-1.marathon.mesos', 'x.db.marathon.mesos'),
      port: fc.constantFrom(31000, 31001),
      priority: fc.constant(0),
      weight: fc.constant(1),
    }),
  );
  const step = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), source: fc.constantFrom('s1', 's2', 's3'), records: fc.array(record, { maxLength: 4 }) }),
    fc.record({ kind: fc.constant('ask' as const), question: fc.constantFrom(...questions) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 50 }), async (steps) => {
      const zone = new Zone();
      const server = serverOn(zone);
      /** Each source's records now: the oracle is a new zone built from them (nothing shared with the one under test). */
      const state = new Map<string, ZoneRecord[]>();
      try {
        for (const s of steps) {
          if (s.kind === 'set') {
            zone.set(s.source, s.records as ZoneRecord[]);
            state.set(s.source, s.records as ZoneRecord[]);
            continue;
          }
          const rebuilt = new Zone();
          for (const [source, records] of state) rebuilt.set(source, records);
          const fresh = serverOn(rebuilt);
          const [name, type] = s.question;
          // The SOA serial is each zone's own generation: the oracle's is set to the live zone's.
          const expected = JSON.parse(JSON.stringify(await ask(fresh, name, type)).replace(/\\"serial\\":\d+/g, `\\"serial\\":${zone.generation}`));
          await fresh.close();
          assert.deepEqual(await ask(server, name, type), expected, `${name} ${type}`);
        }
      } finally {
        await server.close();
      }
    }),
    { numRuns: 500, seed: 18 },
  );
});
