import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type DroverError, isDroverError } from '../errors/errors.ts';
import { RangeSet } from './range-set.ts';
import { Resources } from './resources.ts';
import type { ResourceValue } from './resources.ts';
import { Scalar } from './scalar.ts';
import { ValueSet } from './value-set.ts';

// A bag over a fixed vocabulary: each name has one type, as the invariants require.
const role = fc.constantFrom('*', 'web', 'batch/etl');
const scalarValue = fc.integer({ min: 0, max: 64_000 }).map((m) => Scalar.fromMilli(m));
const rangesValue = fc.array(fc.tuple(fc.integer({ min: 31000, max: 31100 }), fc.nat(20)), { maxLength: 4 }).map((rs) => RangeSet.of(rs.map(([b, len]): [number, number] => [b, b + len])));
const setValue = fc.array(fc.constantFrom('a', 'b', 'c', 'us-east-1a'), { maxLength: 3 }).map((xs) => ValueSet.of(xs));
const entry = fc.oneof(
  fc.record({ name: fc.constantFrom('cpus', 'mem', 'disk'), role, value: scalarValue as fc.Arbitrary<ResourceValue> }),
  fc.record({ name: fc.constant('ports'), role, value: rangesValue as fc.Arbitrary<ResourceValue> }),
  fc.record({ name: fc.constant('zones'), role, value: setValue as fc.Arbitrary<ResourceValue> }),
);
const resources = fc.array(entry, { maxLength: 8 }).map((es) => Resources.of(es));

function parseError(text: string): DroverError {
  try {
    Resources.parse(text);
  } catch (e) {
    assert.ok(isDroverError(e, 'RESOURCE_PARSE'), `${text}: ${String(e)}`);
    assert.equal(e.code, 'DROVER_ERR_RESOURCE_PARSE');
    return e;
  }
  assert.fail(`expected '${text}' to be rejected`);
}

describe('Resources.parse / format', () => {
  test('parses the Mesos text syntax', () => {
    const r = Resources.parse('cpus:2;mem:1024;disk:0;ports:[31000-32000,35000-35010];zones:{a,b}');
    assert.equal(r.cpus(), 2);
    assert.equal(r.mem(), 1024);
    assert.equal(r.disk(), 0);
    assert.equal(r.get('disk'), undefined, 'zero drops out');
    assert.equal(r.ports().format(), '[31000-32000,35000-35010]');
    assert.equal(r.set('zones').format(), '{a,b}');
    assert.deepEqual(r.names(), ['cpus', 'mem', 'ports', 'zones']);
    assert.equal(r.format(), 'cpus:2;mem:1024;ports:[31000-32000,35000-35010];zones:{a,b}');
  });

  test('roles, whitespace, empty segments and repeated names', () => {
    const r = Resources.parse(' cpus : 1 ; bugs(role):{a,b,c};ports(*):[80-80] ;; cpus:0.5; cpus(web):2 ;');
    // cpus(*) = 1 + 0.5; cpus(web) is a separate reservation, but cpus() sums all roles.
    assert.equal(r.get('cpus')?.format(), '1.5');
    assert.equal(r.get('cpus', 'web')?.format(), '2');
    assert.equal(r.cpus(), 3.5);
    assert.equal(r.get('bugs', 'role')?.format(), '{a,b,c}');
    assert.equal(r.format(), 'cpus:1.5;bugs(role):{a,b,c};ports:[80-80];cpus(web):2');
    assert.deepEqual(r.roles(), ['*', 'role', 'web']);
  });

  test('empty text is the empty bag; the default role can be set', () => {
    assert.ok(Resources.parse('').isEmpty);
    assert.ok(Resources.parse('  ;  ').isEmpty);
    assert.equal(Resources.EMPTY.format(), '');
    assert.equal(Resources.parse('cpus:1', 'web').format(), 'cpus(web):1');
  });

  test('malformed text throws RESOURCE_PARSE saying what and where', () => {
    const table: Array<[string, RegExp]> = [
      ['cpus:abc', /^invalid resource 'cpus:abc' at position 0: 'abc' is not a number$/],
      ['mem:1;cpus', /'cpus' at position 6: missing ':'/],
      ['cpus:1:2', /more than one ':'/],
      [':1', /empty name/],
      ['(web):1', /empty name/],
      ['cpus():1', /empty role/],
      ['cpus(web:1', /unterminated '\('/],
      ['cpus:', /missing value/],
      ['cpus:-1', /'-1' is negative/],
      ['cpus:NaN', /'NaN' is not a number/],
      ['cpus:Infinity', /not a number/],
      ['cpus:1e999', /not finite/],
      ['ports:[5-1]', /begin 5 is greater than end 1/],
      ['ports:[1.5-2]', /not of the form begin-end/],
      ['ports:[a-b]', /not of the form begin-end/],
      ['ports:[1-2', /unterminated '\['/],
      ['ports:[1-2;cpus:1', /unterminated '\['/],
      ['zones:{a,b', /unterminated '\{'/],
      ['zones:{a,,b}', /empty item/],
      ['my cpus:1', /contains whitespace/],
      ['cpus:1;cpus:{a}', /at position 7: resource 'cpus' is SCALAR but was given as SET/],
    ];
    for (const [text, message] of table) assert.match(parseError(text).message, message, text);
  });

  test('never throws anything but DroverError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'cpus:;()[]{},-.0123456789 *ab'.split('')) }), (text) => {
        try {
          const r = Resources.parse(text);
          assert.ok(Resources.parse(r.format()).equals(r));
        } catch (e) {
          assert.ok(isDroverError(e), `${JSON.stringify(text)}: ${String(e)}`);
        }
      }),
    );
  });
});

describe('Resources JSON', () => {
  test('uses the Mesos v1 field names', () => {
    const r = Resources.parse('cpus:0.5;ports:[31000-31001];zones(web):{a}');
    assert.deepEqual(r.toJSON(), [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } },
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] } },
      { name: 'zones', type: 'SET', set: { item: ['a'] }, role: 'web' },
    ]);
  });

  test('fromJSON accepts omitted empty repeated fields and uint64 strings', () => {
    const r = Resources.fromJSON([
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: '31000', end: 31005 }] } },
      { name: 'gpus', type: 'RANGES', ranges: {} },
      { name: 'zones', type: 'SET', set: {} },
      { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: '*' },
    ]);
    assert.equal(r.format(), 'ports:[31000-31005];cpus:1');
  });

  test('fromJSON reports the path and reason of each bad shape', () => {
    const ok = { name: 'cpus', type: 'SCALAR', scalar: { value: 1 } };
    const table: Array<[unknown, string, string]> = [
      [{}, 'resources: expected an array, got an object', ''],
      [[ok, ok, { name: 'mem', type: 'SCALAR', scalar: { value: 'x' } }], "resources[2].scalar.value: expected a number, got 'x'", '/2/scalar/value'],
      [[null], 'resources[0]: expected an object, got null', '/0'],
      [[{ type: 'SCALAR', scalar: { value: 1 } }], 'resources[0].name: name must be a string, got nothing', '/0/name'],
      [[{ ...ok, type: 'TEXT' }], "resources[0].type: expected 'SCALAR', 'RANGES' or 'SET', got 'TEXT'", '/0/type'],
      [[{ ...ok, scalar: { value: -1 } }], 'resources[0].scalar.value: negative', '/0/scalar/value'],
      [[{ ...ok, role: '' }], 'resources[0].role: empty role', '/0/role'],
      [[{ name: 'p', type: 'RANGES', ranges: { range: [{ begin: 5, end: 1 }] } }], 'resources[0].ranges.range[0]: begin 5 is greater than end 1', '/0/ranges/range/0'],
      [[{ name: 'p', type: 'RANGES', ranges: { range: [{ begin: 1.5, end: 2 }] } }], 'resources[0].ranges.range[0].begin: expected a non-negative integer, got number 1.5', '/0/ranges/range/0/begin'],
      [[{ name: 's', type: 'SET', set: { item: [1] } }], 'resources[0].set.item: invalid set item: expected a string, got number', '/0/set/item'],
      [[ok, { name: 'cpus', type: 'SET', set: { item: ['a'] } }], "resources[1]: resource 'cpus' is SCALAR but was given as SET", '/1'],
    ];
    for (const [input, message, path] of table) {
      assert.throws(
        () => Resources.fromJSON(input),
        (e) => isDroverError(e, 'RESOURCE_PARSE') && e.message === message && e.details[0]?.path === path,
        message,
      );
    }
  });
});

describe('Resources math', () => {
  test('add, subtract, contains are role-aware', () => {
    const agent = Resources.parse('cpus:4;mem:4096;ports:[31000-32000];cpus(web):2');
    const task = Resources.parse('cpus:0.5;mem:128;ports:[31005-31005]');
    const left = agent.subtract(task);
    assert.equal(left.format(), 'cpus:3.5;mem:3968;ports:[31000-31004,31006-32000];cpus(web):2');
    assert.ok(left.add(task).equals(agent));
    assert.ok(agent.contains(Resources.parse('cpus(web):2')));
    assert.ok(!agent.contains(Resources.parse('cpus(web):3')));
    assert.ok(!Resources.parse('cpus:4').contains(Resources.parse('cpus(web):1')));
  });

  test('subtracting what is not contained throws RESOURCE_MATH', () => {
    const r = Resources.parse('cpus:1;ports:[80-90]');
    for (const other of ['cpus:2', 'mem:1', 'ports:[91-91]', 'cpus(web):1']) {
      assert.throws(
        () => r.subtract(Resources.parse(other)),
        (e) => isDroverError(e, 'RESOURCE_MATH'),
        other,
      );
    }
  });

  test('mixing types for one name throws RESOURCE_MATH', () => {
    const a = Resources.parse('cpus:1');
    const b = Resources.parse('cpus(web):{a}');
    assert.throws(
      () => a.add(b),
      (e) => isDroverError(e, 'RESOURCE_MATH'),
    );
    assert.throws(
      () => a.subtract(Resources.parse('cpus:{a}')),
      (e) => isDroverError(e, 'RESOURCE_MATH'),
    );
    assert.throws(
      () => a.ranges('cpus'),
      (e) => isDroverError(e, 'RESOURCE_MATH'),
    );
    assert.equal(a.contains(b), false);
  });

  test('filterRole and flatten', () => {
    const r = Resources.parse('cpus:1;cpus(web):2;mem(web):64');
    assert.equal(r.filterRole('web').format(), 'cpus(web):2;mem(web):64');
    assert.equal(r.filterRole('*').format(), 'cpus:1');
    assert.equal(r.flatten().format(), 'cpus:3;mem:64');
    assert.equal(r.flatten('batch').format(), 'cpus(batch):3;mem(batch):64');
  });

  test('property: a + b contains a and b; (a + b) - b == a when b holds no ports or items of a', () => {
    fc.assert(
      fc.property(resources, resources, (a, raw) => {
        // Ranges and sets add as unions, so only a `b` disjoint from `a` can be taken back out
        // exactly; that is the real case (a task's ports are never already in the bag).
        const b = withoutOverlap(raw, a);
        const sum = a.add(raw);
        assert.ok(sum.contains(a) && sum.contains(raw));
        assert.ok(a.add(b).subtract(b).equals(a));
      }),
    );
  });

  test('property: scalar-only bags satisfy (a + b) - b == a exactly', () => {
    const scalars = fc.array(fc.record({ name: fc.constantFrom('cpus', 'mem', 'gpus'), role, value: scalarValue }), { maxLength: 6 }).map((es) => Resources.of(es));
    fc.assert(fc.property(scalars, scalars, (a, b) => assert.ok(a.add(b).subtract(b).equals(a))));
  });

  test('property: parse(format(x)) and fromJSON(toJSON(x)) round trip', () => {
    fc.assert(
      fc.property(resources, (r) => {
        assert.ok(Resources.parse(r.format()).equals(r), r.format());
        assert.ok(Resources.fromJSON(JSON.parse(JSON.stringify(r.toJSON()))).equals(r), r.format());
      }),
    );
  });

  test('property: empty values never stay in the bag', () => {
    fc.assert(
      fc.property(resources, resources, (a, b) => {
        for (const { value } of a.add(b).subtract(b)) assert.ok(!value.isEmpty);
      }),
    );
  });
});

/** `b` with every range and set item that `a` holds under the same (name, role) removed. */
function withoutOverlap(b: Resources, a: Resources): Resources {
  return Resources.of(
    b.toArray().map(({ name, role, value }) => {
      const own = a.get(name, role);
      if (value.type === 'RANGES' && own?.type === 'RANGES') return { name, role, value: value.subtract(own) };
      if (value.type === 'SET' && own?.type === 'SET') return { name, role, value: value.subtract(own) };
      return { name, role, value };
    }),
  );
}

test('scalarMillis sums each scalar over roles in milli-units and leaves ranges and sets out', () => {
  const r = Resources.parse('cpus:1.5;mem:64;cpus(db):0.25;ports:[1-2];disks:{a}');
  assert.deepEqual(r.scalarMillis(), [
    ['cpus', 1750],
    ['mem', 64000],
  ]);
  assert.equal(r.scalarMillis(), r.scalarMillis(), 'computed once');
  assert.deepEqual(Resources.EMPTY.scalarMillis(), []);
});
