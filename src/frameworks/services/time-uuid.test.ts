import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeOrderedUuids } from './time-uuid.ts';
import { appIdOfTask, taskId } from './app.ts';

const FORM = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('ids are v7 UUIDs that sort in the order they were made, also within one millisecond', () => {
  let clock = 1_764_640_000_000;
  const uuids = new TimeOrderedUuids(() => clock);
  const made: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    if (i % 5000 === 0) clock += 1; // 5,000 in one millisecond: more than the 12-bit counter holds
    made.push(uuids.next());
  }
  for (const u of made) assert.match(u, FORM);
  assert.deepEqual([...made].sort(), made);
  assert.equal(new Set(made).size, made.length);
  // The first 48 bits are the millisecond.
  assert.equal(parseInt(made[0]!.replace('-', '').slice(0, 12), 16), 1_764_640_000_001);
});

test('a clock stepping back does not make ids go backwards', () => {
  let clock = 2_000_000;
  const uuids = new TimeOrderedUuids(() => clock);
  const a = uuids.next();
  clock -= 1000;
  const b = uuids.next();
  assert.ok(b > a);
});

test('task ids built from them still name their app', () => {
  const id = taskId('/prod/web', new TimeOrderedUuids().next());
  assert.equal(appIdOfTask(id), '/prod/web');
});
