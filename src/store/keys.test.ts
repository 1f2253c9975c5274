import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareKeys, prefixEnd, prefixEndBytes } from './keys.ts';

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

test('compareKeys agrees with UTF-8 byte order', () => {
  const samples = ['', 'a', 'b', 'B', 'ab', 'a/', 'é', '\u00ff', '\u0800', '\uD7FF', '\uE000', '\uFFFD', '\uFFFF', '\u{10000}', '\u{1F600}', '\u{10FFFF}', 'a\u{1F600}', 'a\uFFFD'];
  for (const a of samples) {
    for (const b of samples) assert.equal(Math.sign(compareKeys(a, b)), Math.sign(byBytes(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
});

test('prefixEnd is the exclusive upper bound of a prefix range', () => {
  assert.equal(prefixEnd('abc'), 'abd');
  assert.equal(prefixEnd('a\u{10FFFF}'), 'b');
  assert.equal(prefixEnd('\uD7FF'), '\uE000');
  assert.equal(prefixEnd(''), undefined);
  assert.equal(prefixEnd('\u{10FFFF}'), undefined);
  // Every extension of the prefix sorts below the bound.
  for (const tail of ['', 'z', '\uFFFF', '\u{10FFFF}\u{10FFFF}']) assert.ok(compareKeys(`ab${tail}`, prefixEnd('ab') as string) < 0);
});

test('prefixEndBytes increments the last byte below 0xff', () => {
  assert.deepEqual(prefixEndBytes(Buffer.from([0x61, 0x62])), Buffer.from([0x61, 0x63]));
  assert.deepEqual(prefixEndBytes(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
  assert.deepEqual(prefixEndBytes(Buffer.from([0xff])), Buffer.from([0]));
});
