/**
 * Marathon's placement constraints, `[field, operator, value?]`, compiled once per app or job
 * version: each bound to its operator's checker, its label written, its pattern compiled.
 *
 * Two kinds, because they cost differently on the hot path:
 * - offer checks (LIKE, UNLIKE, IS) read only the offer, so placement evaluates them once per offer;
 * - spread checks (UNIQUE, CLUSTER, GROUP_BY, MAX_PER) count the instances per value of the field
 *   (`FieldCounts`) and are evaluated again for every instance placed on the offer.
 */
import { CONSTRAINT_CHECKERS } from './constraint-checkers.ts';
import { compilePattern } from './pattern.ts';
import { OPERATORS, type CompiledConstraint, type Operator, type Spot } from './types.ts';

/** The value of a constraint field on an agent: `hostname`/`@hostname`, `@region`/`@zone`, or an attribute. */
export function fieldValue(field: string, spot: Spot): string | undefined {
  if (field === 'hostname' || field === '@hostname') return spot.hostname;
  if (field === '@region' || field === '@zone') return spot.attributes[field.slice(1)];
  return spot.attributes[field];
}

/**
 * Compiles one constraint. The input has passed the app or job schema (operator known, value
 * present where required, pattern accepted by `patternProblem`); a pattern refused here anyway (a
 * definition stored before that check existed) makes the constraint refuse every offer, saying why.
 */
export function compileConstraint(field: string, operator: Operator, value: string | undefined): CompiledConstraint {
  const label = `constraint ${[field, operator, value].filter((x) => x !== undefined).join(' ')}`;
  const pattern = operator === 'LIKE' || operator === 'UNLIKE' ? compilePattern(value ?? '') : undefined;
  const limit = (operator === 'MAX_PER' || operator === 'GROUP_BY') && value !== undefined ? Number(value) : undefined;
  return { field, operator, value, label, pattern, limit, check: CONSTRAINT_CHECKERS[operator] };
}

export function isOperator(op: string): op is Operator {
  return (OPERATORS as readonly string[]).includes(op);
}
