/**
 * One checker per constraint operator, with Marathon's semantics. Each returns the refusal's text
 * after the constraint's label (`constraint hostname UNIQUE: hostname h1 already runs an
 * instance`), or undefined when the constraint holds for one more instance on this offer.
 *
 * An agent without the field fails every operator but UNLIKE (Marathon: it cannot be shown to
 * match, and UNLIKE only says what must not match).
 */
import type { CompiledConstraint, FieldCounts, OfferCheck, Operator, SpreadCheck } from './constraints.ts';

/** Every operator but UNLIKE, on an agent without the field. */
export const missing = (c: CompiledConstraint): string => `agent has no ${c.field}`;

/** LIKE: the field's value matches the pattern, whole string. */
const like: OfferCheck = (c, here) => {
  if (c.pattern!.problem !== undefined) return c.pattern!.problem;
  if (here === undefined) return missing(c);
  return c.pattern!.matches(here) ? undefined : `${c.field} is ${here}`;
};

/** UNLIKE: the field's value does not match the pattern; an agent without the field is fine. */
const unlike: OfferCheck = (c, here) => {
  if (c.pattern!.problem !== undefined) return c.pattern!.problem;
  return here !== undefined && c.pattern!.matches(here) ? `${c.field} is ${here}` : undefined;
};

/** IS: the field's value is exactly the value. */
const is: OfferCheck = (c, here) => {
  if (here === undefined) return missing(c);
  return here === c.value ? undefined : `${c.field} is ${here}`;
};

/** UNIQUE: at most one instance per value of the field. */
const unique: SpreadCheck = (c, here, count) => (count > 0 ? `${c.field} ${here} already runs an instance` : undefined);

/**
 * CLUSTER: every instance on the same value — the constraint's value, or without one, the value
 * the first instance landed on.
 */
const cluster: SpreadCheck = (c, here, _count, counts) => {
  const target = c.value ?? firstKey(counts);
  return target !== undefined && here !== target ? `${c.field} is ${here}, not ${target}` : undefined;
};

/** MAX_PER n: at most n instances per value of the field. */
const maxPer: SpreadCheck = (c, here, count) => (count >= c.limit! ? `${c.field} ${here} already runs ${count}` : undefined);

/**
 * GROUP_BY [n]: spread evenly over the field's values. A value that already runs instances takes
 * another only once n values are in use (when n is given) and no value has fewer.
 */
const groupBy: SpreadCheck = (c, here, count, counts) => {
  if (count === 0) return undefined;
  const expected = c.limit ?? 0;
  if (counts.size < expected) return `waiting for other ${c.field} values (${counts.size} of ${expected} used)`;
  const least = Math.min(...counts.values());
  return count > least ? `${c.field} ${here} has ${count}, others have ${least}` : undefined;
};

function firstKey(counts: FieldCounts): string | undefined {
  for (const key of counts.keys()) return key;
  return undefined;
}

export const CONSTRAINT_CHECKERS: Readonly<Record<Operator, CompiledConstraint['check']>> = {
  UNIQUE: { kind: 'spread', run: unique },
  CLUSTER: { kind: 'spread', run: cluster },
  GROUP_BY: { kind: 'spread', run: groupBy },
  LIKE: { kind: 'offer', run: like },
  UNLIKE: { kind: 'offer', run: unlike },
  MAX_PER: { kind: 'spread', run: maxPer },
  IS: { kind: 'offer', run: is },
};
