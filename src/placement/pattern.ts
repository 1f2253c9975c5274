/**
 * LIKE/UNLIKE patterns: matched in time linear in the value (re2js, an RE2-class automaton
 * engine: no backtracking, so `(.*.*)*z` cannot stop the event loop), always against the whole
 * value (Marathon's full-string match), compiled once per app or job version.
 *
 * Linear matching alone is not enough: RE2 writes counted repetitions out, and a 1,000-character
 * pattern made of `.{0,1000}` pieces compiles to 150,000 instructions, which takes re2js seconds
 * to compile and seconds again for the first match; a match also costs value length × the
 * instructions alive at once. So a pattern is also bounded by its size once repetitions are
 * expanded, estimated from the text before the engine ever sees it.
 */
import { RE2JS } from 're2js';

/** Longest pattern accepted. Real LIKE patterns are host or rack names with a class or two. */
export const MAX_PATTERN_LENGTH = 1000;

/**
 * Most instructions a pattern may compile to (an upper estimate: see expandedSize). The usual
 * hostname pattern `[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*` is 256. A match costs up to value length
 * × the instructions alive at once: at this bound, the first match of a 253-character value (the
 * longest hostname) builds the automaton's states in at most about a hundred milliseconds, and
 * later matches reuse them (pattern.test.ts); against a 64-character one it stays in milliseconds.
 */
export const MAX_PATTERN_SIZE = 500;

export interface Pattern {
  readonly source: string;
  /**
   * Why the pattern cannot be used, for a definition stored before it was refused at validation
   * (a lookahead JavaScript accepted, say): its constraint then refuses every offer with this
   * reason, in /v2/queue, rather than placing wrongly or throwing in the offer loop.
   */
  readonly problem: string | undefined;
  /** True when the whole of `value` matches (false when the pattern has a problem). */
  matches(value: string): boolean;
}

/** Why `pattern` cannot be used for LIKE/UNLIKE, or undefined when it can. */
export function patternProblem(pattern: string): string | undefined {
  const compiled = compileChecked(pattern);
  return typeof compiled === 'string' ? compiled : undefined;
}

/** Compiled once per app or job version (the spec); never throws. */
export function compilePattern(pattern: string): Pattern {
  const compiled = compileChecked(pattern);
  if (typeof compiled === 'string') return { source: pattern, problem: compiled, matches: () => false };
  // The engine builds its first automaton state on the first match: do it now, off the offer path.
  compiled.testExact('');
  return { source: pattern, problem: undefined, matches: (value) => compiled.testExact(value) };
}

/** The compiled pattern, or why not: too long, too large once expanded, or refused by the engine. */
function compileChecked(pattern: string): RE2JS | string {
  if (pattern.length > MAX_PATTERN_LENGTH) return `pattern is ${pattern.length} characters long, at most ${MAX_PATTERN_LENGTH} are allowed`;
  const size = expandedSize(pattern);
  if (size > MAX_PATTERN_SIZE) return `pattern is too large once its repetitions are expanded (about ${size} steps, at most ${MAX_PATTERN_SIZE})`;
  try {
    return RE2JS.compile(pattern);
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error);
    return `'${pattern}' is not a valid regular expression: ${why} (patterns use RE2 syntax: no backreferences or lookaround)`;
  }
}

const GROUP_OPENING = /^\((?:\?(?:P?<[^>]*>|[a-zA-Z-]*:))?/;
const COUNTED = /^\{(\d+)(?:(,)(\d*))?\}/;

/**
 * An upper estimate of the instructions `pattern` compiles to: each atom counts 1, a group the
 * sum of its contents plus 2 (its capture marks), and a counted repetition `{n}`, `{n,m}`, `{n,}` of a piece of size
 * s counts (s + 1) × its largest count (RE2 writes the piece out that many times, each copy with
 * the branch that makes it optional). It reads the
 * text only as far as sizes go; syntax is the engine's job, after this bound has passed.
 */
export function expandedSize(pattern: string): number {
  // One frame per open group: the size so far, and the size of the last item (what a
  // repetition after it would repeat).
  const stack: Array<{ total: number; last: number }> = [{ total: 0, last: 0 }];
  const add = (size: number): void => {
    const top = stack[stack.length - 1]!;
    top.total += size;
    top.last = size;
  };
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      const end = skipEscape(pattern, i);
      // `\Q…\E` quotes a literal of any length; every other escape is one atom.
      add(pattern[i + 1] === 'Q' ? Math.max(1, end - i - 4) : isUnicodeClass(pattern, i) ? UNICODE_CLASS_WEIGHT : 1);
      i = end;
    } else if (ch === '[') {
      const end = skipClass(pattern, i);
      add(Math.max(1, countUnicodeClasses(pattern.slice(i, end)) * UNICODE_CLASS_WEIGHT));
      i = end;
    } else if (ch === '(') {
      const flagsOnly = /^\(\?[a-zA-Z-]*\)/.exec(pattern.slice(i));
      if (flagsOnly) {
        i += flagsOnly[0].length;
        continue;
      }
      stack.push({ total: 0, last: 0 });
      // Past `(`, `(?:`, `(?i:`, `(?P<name>` or `(?<name>`: only what follows is content.
      i += GROUP_OPENING.exec(pattern.slice(i))![0].length;
    } else if (ch === ')') {
      const group = stack.length > 1 ? stack.pop()! : { total: 0, last: 0 };
      add(group.total + 2);
      i++;
    } else if (ch === '|') {
      stack[stack.length - 1]!.total += 1;
      stack[stack.length - 1]!.last = 0;
      i++;
    } else if (ch === '*' || ch === '+' || ch === '?') {
      // A loop or an option: its branch, and around a group the engine's empty step too.
      stack[stack.length - 1]!.total += 2;
      i++;
    } else if (ch === '{' && COUNTED.test(pattern.slice(i))) {
      const [text, min, comma, max] = COUNTED.exec(pattern.slice(i))!;
      // `{n}` is n copies; `{n,m}` at most m; `{n,}` n and a loop.
      const times = comma === undefined ? Number(min) : max === '' ? Number(min) + 1 : Math.max(Number(min), Number(max));
      // Each copy is the piece and the branch that makes it optional or repeats it.
      const top = stack[stack.length - 1]!;
      const repeated = (top.last + 1) * times;
      top.total += repeated - top.last;
      top.last = repeated;
      i += text.length;
    } else {
      add(1);
      i++;
    }
  }
  // The program's own start and match instructions.
  return stack.reduce((sum, frame) => sum + frame.total, 0) + 2;
}

/**
 * What one Unicode property class (`\pL`, `\p{Greek}`, `\PN`) costs against a plain atom: it is a
 * table of hundreds of rune ranges, which the engine walks for every state it builds. Measured:
 * `[\p{L}\p{N}]{0,245}` built its states for a 253-character value in 50–90 ms, `[a-z]{0,245}` in 1.
 */
const UNICODE_CLASS_WEIGHT = 10;

function isUnicodeClass(pattern: string, i: number): boolean {
  return pattern[i + 1] === 'p' || pattern[i + 1] === 'P';
}

function countUnicodeClasses(text: string): number {
  return text.match(/\\[pP]/g)?.length ?? 0;
}

/** Past `\x`, `\x{…}`, `\pL`, `\p{…}`, `\P{…}` or `\Q…\E`. */
function skipEscape(pattern: string, i: number): number {
  const next = pattern[i + 1];
  if ((next === 'p' || next === 'P' || next === 'x') && pattern[i + 2] === '{') {
    const close = pattern.indexOf('}', i + 3);
    return close < 0 ? pattern.length : close + 1;
  }
  // `\pL`: a one-letter Unicode class name.
  if (next === 'p' || next === 'P') return Math.min(pattern.length, i + 3);
  if (next === 'Q') {
    const end = pattern.indexOf('\\E', i + 2);
    return end < 0 ? pattern.length : end + 2;
  }
  return Math.min(pattern.length, i + 2);
}

/** Past a character class `[…]` (a `]` first is literal, `[:alpha:]` and escapes inside). */
function skipClass(pattern: string, i: number): number {
  let j = i + 1;
  if (pattern[j] === '^') j++;
  if (pattern[j] === ']') j++;
  while (j < pattern.length && pattern[j] !== ']') {
    if (pattern[j] === '\\') j = skipEscape(pattern, j);
    else if (pattern.startsWith('[:', j)) {
      const close = pattern.indexOf(':]', j + 2);
      j = close < 0 ? j + 1 : close + 2;
    } else j++;
  }
  return Math.min(pattern.length, j + 1);
}
