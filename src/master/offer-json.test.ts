import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EncodedJson } from '../protocol/encoded-json.ts';
import { encodeJsonRecord } from '../protocol/recordio.ts';
import { Resources } from '../resources/index.ts';
import { OfferJson } from './offer-json.ts';
import { OfferTable } from './offer-table.ts';
import { offerToJson } from './views.ts';
import type { AgentRecord, OfferRecord } from './model.ts';

const R = (text: string): Resources => Resources.parse(text);

function agent(): AgentRecord {
  const total = R('cpus:4;mem:1024;ports:[31000-32000]');
  return {
    id: 'agent-"1"',
    info: { hostname: 'h', port: 5051, resources: total.toJSON() },
    hostname: 'host\u00e9 "quoted"\n',
    port: 5051,
    total,
    attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }],
    used: Resources.EMPTY,
    offered: Resources.EMPTY,
    status: 'active',
    registeredAt: 0,
    lastSeen: 0,
  };
}

/** The event's bytes, and what JSON.stringify makes of the object form of the same offers. */
function both(encoder: OfferJson, offers: OfferRecord[], a: AgentRecord): [string, string] {
  const event = encoder.event(offers[0]!.frameworkId);
  for (const o of offers) event.add(o, a);
  return [event.finish().text, JSON.stringify({ type: 'OFFERS', offers: { offers: offers.map((o) => offerToJson(o, a)) } })];
}

test('an OFFERS event is byte for byte JSON.stringify of the object form, before and after the agent changes', () => {
  const encoder = new OfferJson();
  const a = agent();
  const resources = R('cpus:4;cpus(db):1;mem:1024;ports:[31000-31005,31010-32000]');
  const offer = (id: string, role: string): OfferRecord => ({ id, frameworkId: 'fw-"1"-\u00e9', agentId: a.id, role, resources, createdAt: 0 });
  assert.equal(...both(encoder, [offer('o1', '*')], a));
  assert.equal(...both(encoder, [offer('o2', 'db'), offer('o3', '*'), offer('o\u00e94', '*')], a));
  // Re-registration may change the hostname, port and attributes: the cached agent part follows.
  a.hostname = 'other';
  a.port = 5052;
  a.attributes = [{ name: 'zone', type: 'TEXT', text: { value: 'z' } }];
  assert.equal(...both(encoder, [offer('o5', '*')], a));
  // Other resources on the same agent (a task launched since): re-made too.
  assert.equal(...both(encoder, [{ ...offer('o6', '*'), resources: R('cpus:1;mem:64') }], a));
  // The same bag offered to one role after another (an agent's free resources from cycle to
  // cycle, with roles): each offer in its own role; an empty bag too.
  assert.equal(...both(encoder, [offer('o7', 'db'), offer('o8', 'web'), offer('o9', 'db')], a));
  assert.equal(...both(encoder, [{ ...offer('o10', 'web'), resources: Resources.EMPTY }], a));
  // A new bag equal to the last one (an offer returned unused), then one equal but listed in
  // another order: the bytes still follow the bag offered.
  assert.equal(...both(encoder, [{ ...offer('o11', '*'), resources: R('cpus:1;mem:64') }], a));
  assert.equal(...both(encoder, [{ ...offer('o12', '*'), resources: R('cpus:1;mem:64') }], a));
  assert.equal(...both(encoder, [{ ...offer('o13', 'db'), resources: R('mem:64;cpus:1') }], a));
});

test('an encoded event frames as the same record as the object form, and survives writers that do not know it', () => {
  const encoder = new OfferJson();
  const a = agent();
  const offers = ['o1', 'o2'].map((id): OfferRecord => ({ id, frameworkId: 'fw', agentId: a.id, role: '*', resources: a.total, createdAt: 0 }));
  const event = encoder.event('fw');
  for (const o of offers) event.add(o, a);
  const encoded = event.finish();
  const plain = { type: 'OFFERS', offers: { offers: offers.map((o) => offerToJson(o, a)) } };
  assert.ok(encoded instanceof EncodedJson);
  assert.deepEqual(encodeJsonRecord(encoded), encodeJsonRecord(plain));
  assert.equal(JSON.stringify({ wrapped: encoded }), JSON.stringify({ wrapped: plain }));
  assert.deepEqual(encodeJsonRecord(EncodedJson.fromText(JSON.stringify(plain))), encodeJsonRecord(plain));
});

test('offered resources of any kind, reserved or not, encode as the object form does', () => {
  const encoder = new OfferJson();
  const a = agent();
  const entry = fc.oneof(
    fc.tuple(fc.constantFrom('cpus', 'mem', 'gpus'), fc.integer({ min: 1, max: 100_000 })).map(([n, milli]) => `${n}:${milli / 1000}`),
    fc.tuple(fc.integer({ min: 1000, max: 2000 }), fc.integer({ min: 0, max: 50 })).map(([b, w]) => `ports:[${b}-${b + w},${b + w + 2}-${b + w + 9}]`),
    fc.subarray(['ssd', 'hdd', 'x"y', 'd\u00e9'], { minLength: 1 }).map((items) => `disks:{${items.join(',')}}`),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(entry, fc.constantFrom('*', 'db', 'web')), { minLength: 1, maxLength: 6 }), fc.constantFrom('*', 'db'), (entries, role) => {
      const text = entries.map(([e, r]) => (r === '*' ? e : e.replace(':', `(${r}):`))).join(';');
      let resources: Resources;
      try {
        resources = R(text);
      } catch {
        return; // e.g. the same name as two types
      }
      assert.equal(...both(encoder, [{ id: 'o', frameworkId: 'f', agentId: a.id, role, resources, createdAt: 0 }], a));
    }),
  );
});

test('events share one set of lists: a longer event then a shorter one, and an event used after the next began throws', () => {
  const encoder = new OfferJson();
  const a = agent();
  const offer = (id: string): OfferRecord => ({ id, frameworkId: 'fw', agentId: a.id, role: '*', resources: a.total, createdAt: 0 });
  // Five offers fill the shared lists; the next event of one offer must not write what is left of them.
  assert.equal(...both(encoder, ['o1', 'o2', 'o3', 'o4', 'o5'].map(offer), a));
  assert.equal(...both(encoder, [offer('o6')], a));
  const first = encoder.event('fw');
  first.add(offer('o7'), a);
  const second = encoder.event('fw');
  assert.throws(() => first.add(offer('o8'), a), /used after another one was begun/);
  assert.throws(() => first.finish(), /used after another one was begun/);
  second.add(offer('o9'), a);
  assert.equal(JSON.parse(second.finish().text).offers.offers.length, 1);
});

test("the master's offers (offer-table.ts) are written by number: the same bytes as their id strings", () => {
  const encoder = new OfferJson();
  const a = agent();
  const table = new OfferTable('5d1e8c2a-0b7e-4c55-9d0e-3f1a2b3c4d5e-O');
  const made = [0, 1, 9, 10, 99, 100, 12345].map(() => table.make('fw-1', a.id, '*', R('cpus:1;mem:64'), 0));
  // Numbers with every digit count up to 16 (ids of a long-lived master).
  for (let i = 0; i < 12345; i++) table.make('fw-1', a.id, '*', R('cpus:1'), 0);
  made.push(table.make('fw-1', a.id, 'db', R('cpus:2'), 0));
  assert.equal(...both(encoder, made, a));
  // With an offer of another shape (its id a string to escape) in the same event.
  assert.equal(...both(encoder, [made[0]!, { id: 'o\u00e9"1', frameworkId: 'fw-1', agentId: a.id, role: '*', resources: R('cpus:1'), createdAt: 0 }, made[7]!], a));
});

test('agents with equal resources share their joined pieces per role: each offer still its own agent, role and bytes', () => {
  const encoder = new OfferJson();
  const one = agent();
  const two = { ...agent(), id: 'agent-2', hostname: 'two', port: 5053 };
  const offers = (roles: string[]): OfferRecord[] => roles.map((role, i) => ({ id: `o${i}`, frameworkId: 'fw', agentId: '', role, resources: R('cpus:2;mem:256;ports:[31000-31009]'), createdAt: 0 }));
  for (const roles of [
    ['*', 'db'],
    ['db', 'web'],
    ['web', '*'],
    ['*', '*'],
  ]) {
    const [a, b] = offers(roles);
    const event = encoder.event('fw');
    event.add(a!, one);
    event.add(b!, two);
    const expected = JSON.stringify({ type: 'OFFERS', offers: { offers: [offerToJson(a!, one), offerToJson(b!, two)] } });
    assert.equal(event.finish().text, expected);
  }
});
