/**
 * Properties of placement over generated inputs (fast-check): no pattern, hostname, attribute
 * set or constraint list makes placing on one offer slow — the event loop that places also
 * answers agent heartbeats — and placement never hands out more than the offer has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { Resources } from '../resources/index.ts';
import { expandedSize, patternProblem } from './pattern.ts';
import { placeOn, placementSpec, type OfferView, type Spot } from './index.ts';

/** A generous bound for one placeOn call: a few milliseconds is typical, this is a loaded 2-core machine. */
const BOUND_MS = 50;

/** Patterns from a small grammar of RE2 syntax, with the classic catastrophic shapes mixed in. */
const atom = fc.constantFrom('a', 'b', 'z', 'x', '.', '-', '\\.', '[a-z]', '[^x]', '\\d', '\\w', '\\pL', '[0-9a-f]', 'é');
const quantifier = fc.constantFrom('', '', '*', '+', '?', '*?', '{2}', '{0,5}', '{1,20}', '{3,}');
const pattern: fc.Arbitrary<string> = fc.letrec<{ piece: string; seq: string; alt: string }>((tie) => ({
  piece: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(atom, quantifier).map(([a, q]) => a + q),
    fc.tuple(tie('alt'), quantifier, fc.constantFrom('(', '(?:')).map(([inner, q, open]) => `${open}${inner})${q}`),
  ),
  seq: fc.array(tie('piece'), { minLength: 1, maxLength: 5 }).map((pieces) => pieces.join('')),
  alt: fc.array(tie('seq'), { minLength: 1, maxLength: 3 }).map((seqs) => seqs.join('|')),
})).alt;
const catastrophic = fc.constantFrom('(.*.*)*z', '(a+)+b', '(a|a)*b', '(x+x+)+y', '((a*)*)*$z', '(.*){1,20}(.*){1,20}z', '(?:a|aa)+c');
const anyPattern = fc.oneof(pattern, catastrophic).filter((p) => patternProblem(p) === undefined);

/** Hostnames and attribute values up to 64 characters from an alphabet the patterns use. */
const value = fc.string({ unit: fc.constantFrom('a', 'b', 'x', 'z', '.', '-', '1', 'é'), maxLength: 64 });
const field = fc.constantFrom('hostname', 'rack', 'zone');
const constraint = fc.oneof(
  fc.tuple(field, fc.constantFrom('LIKE', 'UNLIKE'), anyPattern).map((c) => [...c]),
  fc.tuple(field, fc.constantFrom('UNIQUE', 'CLUSTER', 'GROUP_BY')).map((c) => [...c]),
  fc.tuple(field, fc.constantFrom('MAX_PER', 'GROUP_BY'), fc.integer({ min: 0, max: 5 }).map(String)).map((c) => [...c]),
  fc.tuple(field, fc.constant('IS'), value).map((c) => [...c]),
  fc.tuple(field, fc.constant('CLUSTER'), value).map((c) => [...c]),
);
const agent = fc.record({ hostname: value, attributes: fc.dictionary(fc.constantFrom('rack', 'zone', 'gpu'), value, { maxKeys: 3 }) });

test('no generated input makes placing on one offer take more than a few milliseconds', () => {
  fc.assert(
    fc.property(fc.array(constraint, { maxLength: 4 }), agent, fc.array(agent, { maxLength: 50 }), fc.integer({ min: 1, max: 20 }), (constraints, on, others, wanted) => {
      const offer: OfferView = { agentId: 'a0', ...on, resources: Resources.parse('cpus:4;mem:1024;ports:[31000-31009]') };
      const spots: Spot[] = others.map((o, i) => ({ agentId: `a${i + 1}`, ...o }));
      // Each attempt with a spec compiled afresh (compiling is once per app version, off the
      // offer path), so the engine's automaton starts cold every time. A slow input is slow on
      // every attempt; a pause of this shared machine (GC, another process) is not the input's doing.
      const attempts: number[] = [];
      let result!: ReturnType<typeof placeOn>;
      while (attempts.length < 3 && !attempts.some((t) => t < BOUND_MS)) {
        const spec = placementSpec({ cpus: 0.1, mem: 16, disk: 0, ports: { kind: 'any', count: 1 }, constraints });
        const started = performance.now();
        result = placeOn(spec, offer, spots, wanted);
        attempts.push(performance.now() - started);
      }
      assert.ok(
        attempts.some((t) => t < BOUND_MS),
        `placeOn took ${attempts.map((t) => t.toFixed(1)).join(', ')} ms for ${JSON.stringify({ constraints, on })}`,
      );
      // Never more than wanted, never more than the offer has, and a reason whenever short.
      assert.ok(result.launches.length <= wanted);
      const taken = result.launches.reduce((sum, l) => sum.add(l.resources), Resources.EMPTY);
      assert.ok(taken.add(result.remaining).equals(offer.resources));
      assert.equal(result.reason === undefined, result.launches.length === wanted);
    }),
    { numRuns: 300 },
  );
});

test('the size estimate that bounds patterns never undercounts what the engine compiles', () => {
  fc.assert(
    fc.property(pattern, (p) => {
      let compiled: RE2JS;
      try {
        compiled = RE2JS.compile(p);
      } catch {
        return; // refused by the engine: nothing to bound
      }
      assert.ok(expandedSize(p) >= compiled.programSize(), `${p}: estimated ${expandedSize(p)}, compiled ${compiled.programSize()}`);
    }),
    { numRuns: 500 },
  );
});
