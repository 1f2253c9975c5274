import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock, systemClock } from './clock.ts';

describe('ManualClock', () => {
  test('advance fires due timers in time order, with now() at each due time', () => {
    const clock = new ManualClock(1000);
    const fired: Array<[string, number]> = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 20);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 10);
    clock.setTimeout(() => fired.push(['c', clock.now()]), 30);
    clock.advance(25);
    assert.deepEqual(fired, [
      ['a', 1010],
      ['b', 1020],
    ]);
    assert.equal(clock.now(), 1025);
    assert.equal(clock.pending, 1);
  });

  test('ties fire in the order they were set; a timer set while advancing fires if due', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push('first');
      clock.setTimeout(() => fired.push('nested'), 5);
    }, 10);
    clock.setTimeout(() => fired.push('second'), 10);
    clock.advance(15);
    assert.deepEqual(fired, ['first', 'second', 'nested']);
  });

  test('a cleared timer never fires; set() never goes backwards', () => {
    const clock = new ManualClock(50);
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 1);
    clock.clearTimeout(handle);
    clock.set(10);
    clock.advance(100);
    assert.equal(fired, false);
    assert.equal(clock.now(), 150);
  });
});

describe('systemClock', () => {
  test('fires a timer and can clear one', async () => {
    let cleared = false;
    const handle = systemClock.setTimeout(() => (cleared = true), 1);
    systemClock.clearTimeout(handle);
    const start = systemClock.now();
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 5));
    assert.ok(systemClock.now() - start >= 4);
    assert.equal(cleared, false);
  });
});
