import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allows, canonicalRid, normalizePath, pathCovers, ridCovers } from './permissions.ts';

const MARATHON = 'dcos:service:marathon:marathon:services';

test('a path grant covers the path and below it by whole segments, never a sibling with the same prefix', () => {
  assert.equal(ridCovers(`${MARATHON}:/dev`, `${MARATHON}:/dev`), true);
  assert.equal(ridCovers(`${MARATHON}:/dev`, `${MARATHON}:/dev/x`), true);
  assert.equal(ridCovers(`${MARATHON}:/dev`, `${MARATHON}:/dev/x/y`), true);
  assert.equal(ridCovers(`${MARATHON}:/dev`, `${MARATHON}:/dev-x`), false);
  assert.equal(ridCovers(`${MARATHON}:/dev`, `${MARATHON}:/devx/a`), false);
  assert.equal(ridCovers(`${MARATHON}:/dev`, `${MARATHON}:/prod`), false);
  assert.equal(ridCovers(`${MARATHON}:/`, `${MARATHON}:/anything/at/all`), true);
  // Another base with the same path is another resource.
  assert.equal(ridCovers(`${MARATHON}:/dev`, `dcos:service:metronome:metronome:jobs:/dev`), false);
});

test('`..` and `.` are refused on grants and requests alike; slashes are normalised', () => {
  assert.throws(() => canonicalRid(`${MARATHON}:/dev/../prod`), /'\.\.' segments are not allowed/);
  assert.throws(() => ridCovers(`${MARATHON}:/dev`, `${MARATHON}:/dev/../prod`), /'\.\.' segments/);
  assert.throws(() => canonicalRid(`${MARATHON}:/dev/./x`), /'\.' segments/);
  assert.equal(canonicalRid(`${MARATHON}://dev//x/`), `${MARATHON}:/dev/x`);
  assert.deepEqual(normalizePath('/a/%2e%2e/b'), '/a/%2e%2e/b', 'a percent-encoded dot is a name, not a parent (fastify decoded the URL already)');
});

test('a grant without the narrowing suffix covers every value of it (DC/OS); whole segments only', () => {
  assert.equal(ridCovers('dcos:mesos:master:task:app_id', 'dcos:mesos:master:task:app_id:/dev'), true);
  assert.equal(ridCovers('dcos:mesos:master:task', 'dcos:mesos:master:task:app_id:/dev'), true);
  assert.equal(ridCovers('dcos:mesos:master:ta', 'dcos:mesos:master:task:app_id:/dev'), false);
  assert.equal(ridCovers('dcos:adminrouter:ops:mesos', 'dcos:adminrouter:ops:mesos-dns'), false);
  assert.equal(ridCovers('dcos:superuser', 'dcos:adminrouter:ops:mesos'), true);
});

test('actions: full covers all four; each other action only itself', () => {
  const grants = [{ rid: `${MARATHON}:/dev`, action: 'read' as const }];
  assert.equal(allows(grants, { rid: `${MARATHON}:/dev/a`, action: 'read' }), true);
  assert.equal(allows(grants, { rid: `${MARATHON}:/dev/a`, action: 'update' }), false);
  assert.equal(allows(grants, { rid: `${MARATHON}:/dev/a`, action: 'full' }), false);
  assert.equal(allows([{ rid: `${MARATHON}:/dev`, action: 'full' }], { rid: `${MARATHON}:/dev/a`, action: 'delete' }), true);
});

test('property: covers ⇔ the requested segments start with the granted segments', () => {
  const segment = fc.constantFrom('dev', 'dev-x', 'devx', 'prod', 'a', 'b', 'dev.x');
  const path = fc.array(segment, { minLength: 0, maxLength: 4 });
  fc.assert(
    fc.property(path, path, (g, r) => {
      const grant = `/${g.join('/')}`;
      const requested = `/${r.join('/')}`;
      const expected = g.length <= r.length && g.every((s, i) => r[i] === s);
      assert.equal(pathCovers(grant, requested), expected);
      assert.equal(ridCovers(`${MARATHON}:${grant}`, `${MARATHON}:${requested}`), expected);
    }),
    { numRuns: 2000 },
  );
});
