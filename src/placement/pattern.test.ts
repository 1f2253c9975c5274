import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RE2JS } from 're2js';
import { compilePattern, expandedSize, MAX_PATTERN_LENGTH, MAX_PATTERN_SIZE, patternProblem } from './pattern.ts';

/**
 * Not a speed test (that is bench/placement.ts): a guard against the catastrophe only. A
 * backtracking engine takes 41 s at 16 characters and doubles per character; linear matching takes
 * milliseconds, and a loaded 2-core machine may stretch that a hundredfold, never to seconds.
 */
const CATASTROPHE_MS = 5_000;

/** Milliseconds `f` takes. */
function timed(f: () => unknown): number {
  const started = performance.now();
  f();
  return performance.now() - started;
}

describe('patternProblem (validation of LIKE/UNLIKE values)', () => {
  test('ordinary patterns pass', () => {
    for (const p of ['r[12]', 'node-[0-9]+', '[a-z0-9-]{1,63}(\\.[a-z0-9-]{1,63})*', '', 'a|b', '(?i)RACK-\\d+', '\\p{Greek}+', '(.*.*)*z']) assert.equal(patternProblem(p), undefined, p);
  });

  test('what the engine refuses (backreferences, lookaround, bad syntax) is refused with its reason', () => {
    assert.match(patternProblem('(a)\\1') ?? '', /^'\(a\)\\1' is not a valid regular expression: invalid escape sequence: `\\1`/);
    assert.match(patternProblem('(?=a)a') ?? '', /invalid or unsupported Perl syntax: `\(\?=`.*no backreferences or lookaround/);
    assert.match(patternProblem('(?<!a)b') ?? '', /not a valid regular expression/);
    assert.match(patternProblem('a(') ?? '', /missing closing \)/);
    assert.match(patternProblem('a{2,1}') ?? '', /invalid repeat count/);
  });

  test('too long, or too large once repetitions are expanded, is refused before the engine compiles it', () => {
    assert.equal(patternProblem('a'.repeat(MAX_PATTERN_SIZE - 2)), undefined);
    assert.equal(patternProblem('a'.repeat(MAX_PATTERN_LENGTH + 1)), `pattern is ${MAX_PATTERN_LENGTH + 1} characters long, at most ${MAX_PATTERN_LENGTH} are allowed`);
    // 142 × a{1000} compiled to 142,002 instructions, 2.7 s of compiling in re2js.
    const huge = 'a{1000}'.repeat(142);
    const took = timed(() => assert.match(patternProblem(huge) ?? '', /too large once its repetitions are expanded \(about \d+ steps, at most 500\)/));
    assert.ok(took < CATASTROPHE_MS, `refused in ${took} ms, without compiling`);
    assert.match(patternProblem('.{0,1000}.') ?? '', /too large/);
    assert.match(patternProblem('(?:(?:.?){0,20}){0,20}') ?? '', /too large/);
  });
});

describe('expandedSize', () => {
  test('atoms count 1, groups their contents + 1, counted repetitions multiply', () => {
    // Every program has 2 more: its start and its match.
    assert.equal(expandedSize('abc'), 3 + 2);
    assert.equal(expandedSize('a{10}'), (1 + 1) * 10 + 2);
    assert.equal(expandedSize('(ab){10}'), (2 + 2 + 1) * 10 + 2);
    assert.equal(expandedSize('((a){10}){10}'), ((1 + 2 + 1) * 10 + 2 + 1) * 10 + 2);
    assert.equal(expandedSize('a{3,}'), (1 + 1) * 4 + 2, 'unbounded counts its minimum + 1');
    assert.equal(expandedSize('[a-z{}]{5}'), (1 + 1) * 5 + 2, 'a class is one atom, braces inside it included');
    assert.equal(expandedSize('\\{5}'), 3 + 2, 'an escaped brace starts no count');
    assert.equal(expandedSize('a{,5}'), 5 + 2, 'not a count: five literal characters');
    assert.equal(expandedSize('(?i)a'), 1 + 2, 'flags cost nothing');
    assert.equal(expandedSize('\\pL{3}'), (10 + 1) * 3 + 2, 'a Unicode class weighs 10');
    assert.equal(expandedSize('[\\p{L}\\p{N}]'), 20 + 2);
  });

  test('never below what the engine compiles to', () => {
    // The bound is only as good as this: the estimate must not undercount the real program.
    for (const p of ['(?:(?:.{0,10}){0,10}){0,10}', '(?:a{0,30}b){0,30}', '(?P<x>(?:x|y){0,20}z){0,20}', '[a-z0-9-]{1,63}(\\.[a-z0-9-]{1,63})*', '(?i)(?:ab|cd){3,}', '\\Qa.b\\E{5}', 'x{2}y{3,5}']) {
      assert.ok(expandedSize(p) >= RE2JS.compile(p).programSize(), `${p}: estimated ${expandedSize(p)}, compiled ${RE2JS.compile(p).programSize()}`);
    }
  });
});

describe('matching: whole value, linear time', () => {
  test('full-string match, like Marathon', () => {
    const p = compilePattern('node-[0-9]+');
    assert.equal(p.matches('node-12'), true);
    assert.equal(p.matches('xnode-12'), false);
    assert.equal(p.matches('node-12x'), false);
    assert.equal(compilePattern('a|b').matches('ab'), false);
  });

  test('the catastrophic pattern (.*.*)*z against a 30-character hostname takes milliseconds, not minutes', () => {
    // With JavaScript's backtracking RegExp this was 3.8 s at 15 characters and 41 s at 16 (each
    // character doubles it): at 30, about 2^14 × 41 s, half a year.
    const hostname = 'a'.repeat(30);
    const pattern = compilePattern('(.*.*)*z');
    const took = timed(() => {
      assert.equal(pattern.matches(hostname), false);
      assert.equal(pattern.matches(`${hostname}z`), true);
    });
    assert.ok(took < CATASTROPHE_MS, `two matches took ${took} ms`);
  });

  test('patterns at the size bound match a 253-character value (the longest hostname) in tens of milliseconds, then faster', () => {
    const value = 'node-0123.rack-7.'.repeat(15).slice(0, 253);
    const similar = `q${value.slice(1)}`;
    for (const source of [
      '.{0,247}',
      '(?i)[a-z]{0,247}',
      '[^a]{0,247}',
      '(?i)(?:[\\p{L}\\p{N}]{0,22})',
      '(?:\\pL|\\pN|\\pS|x){0,13}',
      '(?:.{0,9}){0,22}',
      '(?:(?:.?){0,8}){0,9}',
      '(?:[a-z]*[0-9]*)*(?:.{0,9}){0,20}',
      '[a-z0-9-]{1,63}(\\.[a-z0-9-]{1,63})*',
    ]) {
      assert.equal(patternProblem(source), undefined, `${source} is within the bound (${expandedSize(source)})`);
      const pattern = compilePattern(source);
      // The first match builds the automaton's states (value length × live instructions): 10–55 ms
      // measured here; speed itself is bench/placement.ts's (npm run bench -- placement).
      const first = timed(() => pattern.matches(value));
      assert.ok(first < CATASTROPHE_MS, `${source}: first match ${first} ms`);
      const again = timed(() => pattern.matches(similar));
      assert.ok(again < CATASTROPHE_MS, `${source}: second match ${again} ms`);
    }
  });
});
