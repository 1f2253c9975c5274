/**
 * Schema errors in words: `{path: '/cpus', errors: ['must be >= 0.001']}` becomes "CPUs must be at
 * least 0.001". The field is named as the form labels it; the reason loses the schema's jargon
 * (anyOf, integer, pattern). Unknown shapes pass through unchanged rather than being lost.
 */
import type { ErrorDetail } from './api.ts';

const FIELD_NAMES: Record<string, string> = {
  id: 'Service ID',
  cmd: 'Command',
  args: 'Arguments',
  instances: 'Instances',
  cpus: 'CPUs',
  mem: 'Memory (MiB)',
  disk: 'Disk (MiB)',
  portDefinitions: 'Host ports',
  ports: 'Host ports',
  env: 'Environment',
  constraints: 'Constraints',
  healthChecks: 'Health check',
  labels: 'Labels',
  container: 'Container',
};

/** "Host port 1", "Environment variable A", "Health check 1 path": what a person calls the path. */
export function fieldName(path: string): string {
  const [head = '', index, ...rest] = path.split('/').slice(1);
  const base = FIELD_NAMES[head] ?? (head === '' ? 'The definition' : head);
  if (index === undefined) return base;
  if (head === 'env') return `Environment variable ${index}`;
  if (head === 'labels') return `Label ${index}`;
  const n = /^\d+$/.test(index) ? Number(index) + 1 : undefined;
  const item = head === 'portDefinitions' || head === 'ports' ? 'Host port' : head === 'healthChecks' ? 'Health check' : head === 'constraints' ? 'Constraint' : base;
  const named = n === undefined ? `${base} ${index}` : `${item} ${n}`;
  return rest.length === 0 ? named : `${named} ${rest.join(' ')}`;
}

const REWRITES: ReadonlyArray<readonly [RegExp, (m: RegExpExecArray) => string]> = [
  [/^must be >= (.+)$/, (m) => `must be at least ${m[1]}`],
  [/^must be > (.+)$/, (m) => `must be more than ${m[1]}`],
  [/^must be <= (.+)$/, (m) => `must be at most ${m[1]}`],
  [/^must be < (.+)$/, (m) => `must be less than ${m[1]}`],
  [/^must be integer$/, () => 'must be a whole number'],
  [/^must be number$/, () => 'must be a number'],
  [/^must be string$/, () => 'must be text'],
  [/^must be object$/, () => 'must be a set of fields'],
  [/^must be array$/, () => 'must be a list'],
  [/^must be boolean$/, () => 'must be true or false'],
  [/^unknown property$/, () => 'is not a field Drover knows'],
  [/^must NOT have fewer than (\d+) (characters|items)$/, (m) => (m[1] === '1' ? 'must not be empty' : `needs at least ${m[1]} ${m[2]}`)],
  [/^must NOT have more than (\d+) (characters|items)$/, (m) => `may have at most ${m[1]} ${m[2]}`],
  [/^must have required property '([^']+)'$/, (m) => `needs ${m[1]}`],
  [/^must be equal to one of the allowed values$/, () => 'is not one of the allowed values'],
  [/^must match pattern /, () => 'has characters or a form that is not allowed'],
];

/** One reason in words; `undefined` for the schema's summary noise ("must match a schema in anyOf"). */
export function readableReason(reason: string): string | undefined {
  if (/^must match (a|exactly one) schema in (anyOf|oneOf)$/.test(reason)) return undefined;
  for (const [pattern, rewrite] of REWRITES) {
    const m = pattern.exec(reason);
    if (m !== null) return rewrite(m);
  }
  return reason;
}

/** The reasons of one detail in words, "must be text or a set of fields" when the schema offered both. */
export function readableReasons(detail: ErrorDetail): string[] {
  const reasons = detail.errors.map(readableReason).filter((r): r is string => r !== undefined);
  const kinds = reasons.filter((r) => /^must be (text|a number|a whole number|a set of fields|a list|true or false)$/.test(r));
  if (kinds.length < 2) return reasons.length > 0 ? reasons : detail.errors;
  const rest = reasons.filter((r) => !kinds.includes(r));
  return [`must be ${kinds.map((k) => k.slice('must be '.length)).join(' or ')}`, ...rest];
}

/** "CPUs must be at least 0.001" — field and reason, one line per reason. */
export function readable(detail: ErrorDetail): string[] {
  return readableReasons(detail).map((r) => `${fieldName(detail.path)} ${r}`);
}
