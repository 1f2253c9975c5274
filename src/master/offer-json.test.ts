import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EncodedJson } from '../protocol/encoded-json.ts';
import { encodeJsonRecord } from '../protocol/recordio.ts';
import { Resources } from '../resources/index.ts';
import { OfferJson } from './offer-json.ts';
import { offerToJson } from './views.ts';
import type { AgentRecord, OfferRecord } from './model.ts';

const R = (text: string): Resources => Resources.parse(text);

function agent(): AgentRecord {
  const total = R('cpus:4;mem:1024;ports:[31000-32000]');
  return {
    id: 'agent-"1"', info: { hostname: 'h', port: 5051, resources: total.toJSON() }, hostname: 'host\u00e9 "quoted"\n', port: 5051, total,
    attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }], used: Resources.EMPTY, offered: Resources.EMPTY, status: 'active', registeredAt: 0, lastSeen: 0,
  };
}

test('an offer encodes exactly as JSON.stringify(offerToJson(…)), before and after the agent changes', () => {
  const encoder = new OfferJson();
  const a = agent();
  const resources = R('cpus:4;cpus(db):1;mem:1024;ports:[31000-31005,31010-32000]');
  const offer = (id: string, role: string): OfferRecord => ({ id, frameworkId: 'fw-1', agentId: a.id, role, resources, createdAt: 0 });
  for (const [id, role] of [['o1', '*'], ['o2', 'db'], ['o3', '*']] as const) {
    assert.equal(encoder.offer(offer(id, role), a), JSON.stringify(offerToJson(offer(id, role), a)));
  }
  // Re-registration may change the hostname, port and attributes: the cached agent part follows.
  a.hostname = 'other';
  a.port = 5052;
  a.attributes = [{ name: 'zone', type: 'TEXT', text: { value: 'z' } }];
  assert.equal(encoder.offer(offer('o4', '*'), a), JSON.stringify(offerToJson(offer('o4', '*'), a)));
  // Other resources on the same agent (a task launched since): re-made too.
  const smaller: OfferRecord = { ...offer('o5', '*'), resources: R('cpus:1;mem:64') };
  assert.equal(encoder.offer(smaller, a), JSON.stringify(offerToJson(smaller, a)));
});

test('an OFFERS event frames as the same record as the object form', () => {
  const encoder = new OfferJson();
  const a = agent();
  const offers = ['o1', 'o2'].map((id): OfferRecord => ({ id, frameworkId: 'fw', agentId: a.id, role: '*', resources: a.total, createdAt: 0 }));
  const event = OfferJson.event('fw');
  for (const o of offers) event.add(encoder, o, a);
  const encoded = event.finish();
  const plain = { type: 'OFFERS', offers: { offers: offers.map((o) => offerToJson(o, a)) } };
  assert.deepEqual(encodeJsonRecord(encoded), encodeJsonRecord(plain));
  // A writer that does not know EncodedJson still writes the same JSON.
  assert.equal(JSON.stringify({ wrapped: encoded }), JSON.stringify({ wrapped: plain }));
  assert.ok(encoded instanceof EncodedJson);
});

test('offered resources of any kind, reserved or not, encode as the object form does', () => {
  const encoder = new OfferJson();
  const a = agent();
  const entry = fc.oneof(
    fc.tuple(fc.constantFrom('cpus', 'mem', 'gpus'), fc.integer({ min: 1, max: 100_000 })).map(([n, milli]) => `${n}:${milli / 1000}`),
    fc.tuple(fc.integer({ min: 1000, max: 2000 }), fc.integer({ min: 0, max: 50 })).map(([b, w]) => `ports:[${b}-${b + w},${b + w + 2}-${b + w + 9}]`),
    fc.subarray(['ssd', 'hdd', 'x"y'], { minLength: 1 }).map((items) => `disks:{${items.join(',')}}`),
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
      const offer: OfferRecord = { id: 'o', frameworkId: 'f', agentId: a.id, role, resources, createdAt: 0 };
      assert.equal(encoder.offer(offer, a), JSON.stringify(offerToJson(offer, a)));
    }),
  );
});
