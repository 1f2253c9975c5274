import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isDroverError } from '../errors/errors.ts';
import { Scalar } from './scalar.ts';

const milli = fc.integer({ min: 0, max: 1e12 });

describe('Scalar', () => {
  test('parses and formats without trailing zeros', () => {
    const cases: Array<[string, number, string]> = [
      ['0.5', 500, '0.5'],
      ['1024', 1024000, '1024'],
      ['2', 2000, '2'],
      ['2.000', 2000, '2'],
      ['0.125', 125, '0.125'],
      ['  7.10 ', 7100, '7.1'],
      ['.25', 250, '0.25'],
      ['3.', 3000, '3'],
      ['1e3', 1000000, '1000'],
      ['0', 0, '0'],
    ];
    for (const [text, m, formatted] of cases) {
      const s = Scalar.parse(text);
      assert.equal(s.milli, m, text);
      assert.equal(s.format(), formatted, text);
    }
  });

  test('rounds to the nearest milli-unit, half up, on the decimal digits', () => {
    assert.equal(Scalar.parse('0.0015').milli, 2);
    assert.equal(Scalar.parse('0.0014999').milli, 1);
    assert.equal(Scalar.parse('0.0004').milli, 0);
    assert.equal(Scalar.parse('1.9995').milli, 2000);
    // The double 0.0015 is slightly below 0.0015, but its shortest decimal form rounds up.
    assert.equal(Scalar.fromNumber(0.0015).milli, 2);
    assert.equal(Scalar.fromNumber(1e-7).milli, 0);
  });

  test('arithmetic is exact', () => {
    assert.equal(Scalar.parse('0.1').add(Scalar.parse('0.2')).format(), '0.3');
    assert.equal(Scalar.parse('1').subtract(Scalar.parse('0.9')).format(), '0.1');
    assert.ok(Scalar.parse('0.5').compare(Scalar.parse('0.25')) > 0);
  });

  test('rejects bad text with RESOURCE_PARSE', () => {
    for (const bad of ['', 'abc', 'NaN', 'Infinity', '-1', '-0.5', '+1', '1.2.3', '0x10', '1e400', '99999999999999999']) {
      assert.throws(
        () => Scalar.parse(bad),
        (e) => isDroverError(e, 'RESOURCE_PARSE'),
        bad,
      );
    }
    for (const bad of [NaN, Infinity, -Infinity, -1, 1e300]) {
      assert.throws(
        () => Scalar.fromNumber(bad),
        (e) => isDroverError(e, 'RESOURCE_PARSE'),
        String(bad),
      );
    }
  });

  test('subtracting more than there is throws RESOURCE_MATH', () => {
    assert.throws(
      () => Scalar.parse('1').subtract(Scalar.parse('1.001')),
      (e) => isDroverError(e, 'RESOURCE_MATH'),
    );
  });

  test('property: parse(format(x)) and fromNumber(toNumber(x)) round trip', () => {
    fc.assert(
      fc.property(milli, (m) => {
        const s = Scalar.fromMilli(m);
        assert.ok(Scalar.parse(s.format()).equals(s));
        assert.ok(Scalar.fromNumber(s.toNumber()).equals(s));
      }),
    );
  });

  test('property: (a + b) - b == a and a + b contains both', () => {
    fc.assert(
      fc.property(milli, milli, (x, y) => {
        const a = Scalar.fromMilli(x);
        const b = Scalar.fromMilli(y);
        const sum = a.add(b);
        assert.ok(sum.subtract(b).equals(a));
        assert.ok(sum.contains(a) && sum.contains(b));
      }),
    );
  });
});
