import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeInstance, encodeInstance } from './instance-codec.ts';
import type { Instance } from './reconcile.ts';

const base: Instance = {
  taskId: 'prod_web.instance-0192f3a4-1b2c-7d3e-8f40-123456789abc._app.1',
  appId: '/prod/web',
  agentId: 'a1-S3',
  hostname: 'node-1',
  attributes: { rack: 'r1' },
  configVersion: '2026-12-01T00:00:00.000Z',
  version: '2026-12-01T00:00:00.000Z',
  state: 'TASK_RUNNING',
  ports: [31000],
  host: 'node-1',
  stagedAt: '2026-12-01T00:00:01.000Z',
  startedAt: '2026-12-01T00:00:02.000Z',
};

test('an instance round-trips, and what the key and other fields say is not stored', () => {
  const stored = encodeInstance(base);
  assert.deepEqual(decodeInstance(base.taskId, stored), base);
  const fields = Object.keys(JSON.parse(stored) as object);
  for (const derived of ['taskId', 'appId', 'host', 'configVersion']) assert.ok(!fields.includes(derived), derived);
  assert.ok(stored.length < JSON.stringify(base).length * 0.7, `${stored.length} vs ${JSON.stringify(base).length}`);
});

test('fields that differ from what they would be derived from are kept', () => {
  const odd = { ...base, host: 'other', configVersion: '2026-11-30T00:00:00.000Z', appId: '/elsewhere', killedByUs: true } as Instance;
  assert.deepEqual(decodeInstance(odd.taskId, encodeInstance(odd)), odd);
});

test('a value in the full form (written before the codec) decodes the same', () => {
  assert.deepEqual(decodeInstance(base.taskId, JSON.stringify(base)), base);
});
