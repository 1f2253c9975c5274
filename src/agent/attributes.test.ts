import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAttributes } from './attributes.ts';

describe('parseAttributes', () => {
  test('text, scalar, ranges and set values become Mesos attribute JSON', () => {
    assert.deepEqual(parseAttributes('rack:r1; zone:us-east-1a;level:2;weight:-0.5;ids:[1-4,8-9];tags:{ssd, gpu}'), [
      { name: 'rack', type: 'TEXT', text: { value: 'r1' } },
      { name: 'zone', type: 'TEXT', text: { value: 'us-east-1a' } },
      { name: 'level', type: 'SCALAR', scalar: { value: 2 } },
      { name: 'weight', type: 'SCALAR', scalar: { value: -0.5 } },
      {
        name: 'ids',
        type: 'RANGES',
        ranges: {
          range: [
            { begin: 1, end: 4 },
            { begin: 8, end: 9 },
          ],
        },
      },
      { name: 'tags', type: 'SET', set: { item: ['ssd', 'gpu'] } },
    ]);
  });

  test('empty input and empty segments give nothing', () => {
    assert.deepEqual(parseAttributes(''), []);
    assert.deepEqual(parseAttributes(';;'), []);
  });

  test('a value may contain a colon (only the first one separates)', () => {
    assert.deepEqual(parseAttributes('url:http://x'), [{ name: 'url', type: 'TEXT', text: { value: 'http://x' } }]);
  });

  test('errors name the segment, its position and the reason', () => {
    assert.throws(() => parseAttributes('rack:r1;zone'), /invalid attribute 'zone' at position 8: expected 'name:value'/);
    assert.throws(() => parseAttributes(':a'), /empty name/);
    assert.throws(() => parseAttributes('rack:'), /missing value for 'rack'/);
    assert.throws(() => parseAttributes('ra ck:1'), /may only contain/);
    assert.throws(() => parseAttributes('rack:a;rack:b'), /'rack' is given more than once/);
    assert.throws(() => parseAttributes('ids:[4-1]'), /invalid attribute 'ids:\[4-1\]'/);
    assert.throws(() => parseAttributes('tags:{a,}'), /empty item/);
    assert.throws(() => parseAttributes('tags:{a'), /unterminated/);
  });
});
