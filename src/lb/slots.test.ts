import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LbModel, LbServer, LbService } from './model.ts';
import { compactTables, drainTask, planSlots, slotCount } from './slots.ts';
import type { SlotTable } from './config.ts';

const server = (n: number): LbServer => ({ taskId: `t${n}`, ip: '10.0.0.1', port: 31000 + n });
const service = (servers: LbServer[]): LbService => ({
  appId: '/web',
  portIndex: 0,
  servicePort: 10000,
  bindAddr: '*',
  mode: 'http',
  balance: 'roundrobin',
  vhosts: [],
  sticky: false,
  redirectToHttps: false,
  sslCerts: [],
  backend: 'web_10000',
  servers,
});
const model = (servers: LbServer[]): LbModel => ({ services: [service(servers)], refused: [] });

test('slot counts: twice the instances, a power of two, at least the minimum', () => {
  assert.equal(slotCount(0, 8), 8);
  assert.equal(slotCount(4, 8), 8);
  assert.equal(slotCount(5, 8), 16);
  assert.equal(slotCount(100, 8), 256);
});

test('a reload compacts instances into s1…sk and keeps a bigger table unless 4× too big', () => {
  const t = compactTables(model([server(1), server(2)]), new Map(), 8).get('web_10000')!;
  assert.deepEqual(t.slice(0, 3), [server(1), server(2), null]);
  assert.equal(t.length, 8);
  const kept = compactTables(model([server(1)]), new Map([['web_10000', new Array(16).fill(null)]]), 8).get('web_10000')!;
  assert.equal(kept.length, 16);
  const shrunk = compactTables(model([server(1)]), new Map([['web_10000', new Array(64).fill(null)]]), 8).get('web_10000')!;
  assert.equal(shrunk.length, 8);
});

test('a rolling step: the new instance is added (addr, ready) before the old one goes to maint', () => {
  const current = new Map<string, SlotTable>([['web_10000', [server(1), server(2), null, null]]]);
  const plan = planSlots(current, model([server(2), server(3)]));
  assert.deepEqual(plan.overflow, []);
  assert.deepEqual(plan.commands, ['set server web_10000/s3 addr 10.0.0.1 port 31003', 'set server web_10000/s3 state ready', 'set server web_10000/s1 state maint']);
  assert.deepEqual(plan.tables.get('web_10000'), [null, server(2), server(3), null]);
});

test('a full table reuses the slots it frees (after their maint), and overflows only beyond them', () => {
  const current = new Map<string, SlotTable>([['web_10000', [server(1), server(2)]]]);
  const swap = planSlots(current, model([server(3), server(4)]));
  assert.deepEqual(swap.overflow, []);
  assert.deepEqual(swap.commands, [
    'set server web_10000/s1 state maint',
    'set server web_10000/s2 state maint',
    'set server web_10000/s1 addr 10.0.0.1 port 31003',
    'set server web_10000/s1 state ready',
    'set server web_10000/s2 addr 10.0.0.1 port 31004',
    'set server web_10000/s2 state ready',
  ]);
  assert.deepEqual(planSlots(current, model([server(1), server(2), server(3)])).overflow, ['web_10000']);
  assert.deepEqual(planSlots(new Map(), model([server(1)])).overflow, ['web_10000'], 'a new backend needs a reload');
});

test('a kill drains the task at once from every backend that has it', () => {
  const current = new Map<string, SlotTable>([
    ['web_10000', [server(1), server(2)]],
    ['web_10001', [null, server(1)]],
    ['other_10002', [server(5)]],
  ]);
  const { tables, commands } = drainTask(current, 't1');
  assert.deepEqual(commands, ['set server web_10000/s1 state maint', 'set server web_10001/s2 state maint']);
  assert.deepEqual(tables.get('web_10000'), [null, server(2)]);
  assert.deepEqual(tables.get('other_10002'), [server(5)]);
  assert.deepEqual(drainTask(tables, 't1').commands, [], 'twice: nothing more to do');
});

test('property: after any plan, the filled slots are exactly the wanted instances, each once', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 30 }), { maxLength: 12 }), fc.uniqueArray(fc.integer({ min: 1, max: 30 }), { maxLength: 12 }), (before, after) => {
      const start = compactTables(model(before.map(server)), new Map(), 8);
      const plan = planSlots(start, model(after.map(server)));
      if (plan.overflow.length > 0) return after.length > start.get('web_10000')!.length;
      const filled = plan.tables
        .get('web_10000')!
        .filter((v): v is LbServer => v !== null)
        .map((v) => v.taskId)
        .sort();
      return JSON.stringify(filled) === JSON.stringify(after.map((n) => `t${n}`).sort());
    }),
  );
});

test('cooling slots (old task still draining) are taken only after clean ones, oldest first', () => {
  const current = new Map<string, SlotTable>([['web_10000', [server(1), null, null, null]]]);
  const cooling = new Map([
    ['web_10000/s3', 't8'],
    ['web_10000/s2', 't9'],
  ]);
  const one = planSlots(current, model([server(1), server(2)]), cooling);
  assert.deepEqual(one.commands.slice(0, 1), ['set server web_10000/s4 addr 10.0.0.1 port 31002'], 'the clean slot s4 first');
  const three = planSlots(current, model([server(1), server(2), server(3), server(4)]), cooling);
  assert.deepEqual(
    three.commands.filter((c) => c.endsWith('ready')),
    ['set server web_10000/s4 state ready', 'set server web_10000/s3 state ready', 'set server web_10000/s2 state ready'],
    'then s3 (cooling longest), then s2',
  );
  const freed = planSlots(current, model([server(2)]), cooling).freed;
  assert.deepEqual(freed, [['web_10000/s1', 't1']], 'the slot of t1 starts cooling');
});
