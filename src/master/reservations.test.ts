import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../resources/index.ts';
import type { ResourceJson } from '../protocol/mesos/scheduler.ts';
import { applyLedger, entryOf, freeEntries, ledgerFromJson, ledgerToJson, offerResourcesJson, type ReservedEntry } from './reservations.ts';
import { applyOperation, Conflict, type AgentWorkingState } from './offer-operations.ts';

const labels = { labels: [{ key: 'k', value: 'v' }] };
const refined = (name: string, value: number, extra: Partial<ResourceJson> = {}): ResourceJson => ({
  name,
  type: 'SCALAR',
  scalar: { value },
  reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p', labels }],
  ...extra,
});
const old = (name: string, value: number): ResourceJson => ({ name, type: 'SCALAR', scalar: { value }, role: 'eng', reservation: { principal: 'p', labels } });
const vol = (id: string, size: number, path = 'data'): ResourceJson => refined('disk', size, { disk: { persistence: { id, principal: 'p' }, volume: { container_path: path, mode: 'RW' } } });

function entry(json: ResourceJson): ReservedEntry {
  const e = entryOf(json, 0);
  assert.ok(typeof e === 'object', String(e));
  return e;
}

test('both JSON forms of one reservation are the same entry', () => {
  const a = entry(refined('cpus', 1));
  const b = entry(old('cpus', 1));
  assert.equal(a.key, b.key);
  assert.ok(a.value.equals(Resources.parse('cpus(eng):1')));
  // A volume is its own entry, never merged with the disk it came from.
  assert.notEqual(entry(vol('v', 10)).key, entry(refined('disk', 10)).key);
});

test('invalid reservations and volumes say why', () => {
  assert.match(String(entryOf({ ...refined('cpus', 1), reservations: [{ type: 'DYNAMIC', role: '*' }] }, 2)), /^resources\[2\]: a dynamic reservation needs a role other than/);
  assert.match(String(entryOf({ ...refined('cpus', 1), reservations: [{ role: 'a' }, { role: 'a/b' }] }, 0)), /refinement/);
  assert.match(String(entryOf({ name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { persistence: { id: 'x' } } }, 0)), /needs dynamically reserved disk/);
  assert.match(String(entryOf(vol('v', 1, '../up'), 0)), /may not contain/);
  assert.match(String(entryOf(vol('v', 1, '/abs'), 0)), /must be relative/);
  assert.match(String(entryOf(vol('a/b', 1), 0)), /may contain only/);
  assert.match(String(entryOf(refined('cpus', 1, { disk: { persistence: { id: 'x' }, volume: { container_path: 'd' } } }), 0)), /only disk/);
  // Unreserved and statically reserved resources are not entries.
  assert.equal(entryOf({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }, 0), undefined);
  assert.equal(entryOf({ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: 'eng' }, 0), undefined);
});

test('the ledger moves reserved resources from * to their role; what no longer fits is dropped', () => {
  const ledger = ledgerFromJson([refined('cpus', 1), refined('disk', 100), vol('v', 50)]);
  const { total, dropped } = applyLedger(Resources.parse('cpus:4;mem:100;disk:200'), ledger);
  assert.ok(total.equals(Resources.parse('cpus:3;cpus(eng):1;mem:100;disk:50;disk(eng):150')), total.format());
  assert.equal(dropped.length, 0);
  const small = applyLedger(Resources.parse('cpus:4;disk:120'), ledger);
  assert.deepEqual(
    small.dropped.map((e) => e.value.format()),
    ['disk(eng):50'],
  );
  // JSON round trip.
  assert.deepEqual(ledgerFromJson(ledgerToJson(ledger)), ledger);
});

test("offers list each reservation and each volume no task uses; a task's use takes it out", () => {
  const ledger = ledgerFromJson([refined('cpus', 1), refined('disk', 100), vol('v', 50)]);
  const offered = Resources.parse('cpus:3;cpus(eng):1;disk(eng):150');
  const json = offerResourcesJson(offered, 'eng', freeEntries(ledger, []));
  const volume = json.find((r) => r.disk?.persistence?.id === 'v');
  assert.equal(volume?.scalar?.value, 50);
  assert.deepEqual(volume?.reservations, [{ type: 'DYNAMIC', role: 'eng', principal: 'p', labels }]);
  assert.deepEqual(json.find((r) => r.name === 'cpus' && r.role === 'eng')?.reservation, { principal: 'p', labels });
  const free = freeEntries(ledger, [[entry(vol('v', 50)), entry(refined('cpus', 0.5))]]);
  const inUse = offerResourcesJson(Resources.parse('cpus:3;cpus(eng):0.5;disk(eng):100'), 'eng', free);
  assert.equal(
    inUse.some((r) => r.disk !== undefined),
    false,
  );
  assert.equal(inUse.find((r) => r.name === 'cpus' && r.role === 'eng')?.scalar?.value, 0.5);
});

function state(pool: string, ledger: ReservedEntry[] = []): AgentWorkingState {
  return { pool: Resources.parse(pool), total: Resources.parse(pool), ledger, free: ledger, changed: false };
}

test('RESERVE, CREATE, DESTROY, UNRESERVE on a working state', () => {
  const framework = { kind: 'framework' as const, principal: 'p', roles: ['eng'], allocationRole: 'eng' };
  const s = state('cpus:2;disk:100');
  assert.equal(applyOperation(s, 'RESERVE', [refined('cpus', 1), refined('disk', 60)], framework), undefined);
  assert.ok(s.pool.equals(Resources.parse('cpus:1;cpus(eng):1;disk:40;disk(eng):60')));
  assert.equal(applyOperation(s, 'CREATE', [vol('v', 40)], framework), undefined);
  // A second volume of the same id; a volume bigger than what is left reserved.
  assert.ok(applyOperation(s, 'CREATE', [vol('v', 10)], framework) instanceof Conflict);
  assert.match(String(applyOperation(s, 'CREATE', [vol('w', 30)], framework)), /not available as reserved disk/);
  // The disk holding the volume cannot be unreserved; the rest can.
  assert.match(String(applyOperation(s, 'UNRESERVE', [refined('disk', 60)], framework)), /holds persistent volume\(s\) 'v'/);
  assert.equal(applyOperation(s, 'UNRESERVE', [refined('disk', 20)], framework), undefined);
  assert.equal(applyOperation(s, 'DESTROY', [vol('v', 40)], framework), undefined);
  assert.equal(applyOperation(s, 'UNRESERVE', [refined('disk', 40), refined('cpus', 1)], framework), undefined);
  assert.deepEqual(s.ledger, []);
  assert.ok(s.pool.equals(Resources.parse('cpus:2;disk:100')), s.pool.format());
  // Principal and role rules.
  assert.match(String(applyOperation(state('cpus:1'), 'RESERVE', [refined('cpus', 1)], { ...framework, principal: 'q' })), /does not match/);
  assert.match(String(applyOperation(state('cpus:1'), 'RESERVE', [refined('cpus', 1)], { ...framework, roles: ['ops'] })), /not subscribed/);
  assert.match(String(applyOperation(state('cpus:1'), 'RESERVE', [refined('cpus', 1)], { ...framework, allocationRole: 'ops' })), /offered to role 'ops'/);
  assert.ok(applyOperation(state('cpus:1'), 'RESERVE', [refined('cpus', 2)], framework) instanceof Conflict);
});
