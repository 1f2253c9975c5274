/**
 * A health check's record (Marathon's `Health`: firstSuccess, lastSuccess, lastFailure,
 * lastFailureCause, consecutiveFailures) carried from the agent to the scheduler in a health
 * status update's `TaskStatus.labels`. Mesos' TaskStatus has only `healthy`; Marathon keeps the
 * rest itself from the checks it runs. Drover's agent runs every check, so it sends the record
 * beside `healthy` — labels, because any Mesos framework ignores labels it does not know.
 *
 * Reading is bounded: only these keys, times as ISO-8601 strings of at most 40 characters, a
 * count up to 1e9, a cause cut to 1,024 characters. Anything else is ignored, never thrown.
 */

export interface HealthRecord {
  consecutiveFailures: number;
  /** Milliseconds since the epoch. */
  firstSuccessMs?: number;
  lastSuccessMs?: number;
  lastFailureMs?: number;
  lastFailureCause?: string;
}

export const HEALTH_LABEL_PREFIX = 'drover.health.';
const MAX_CAUSE = 1024;
const MAX_TIME_TEXT = 40;

const TIME_KEYS = { firstSuccessMs: 'first_success', lastSuccessMs: 'last_success', lastFailureMs: 'last_failure' } as const;

type Label = { key: string; value?: string };

/** The record as TaskStatus labels. */
export function healthLabels(record: HealthRecord): { labels: Label[] } {
  const labels: Label[] = [{ key: `${HEALTH_LABEL_PREFIX}consecutive_failures`, value: String(record.consecutiveFailures) }];
  for (const [field, key] of Object.entries(TIME_KEYS) as Array<[keyof typeof TIME_KEYS, string]>) {
    const ms = record[field];
    if (ms !== undefined) labels.push({ key: `${HEALTH_LABEL_PREFIX}${key}`, value: new Date(ms).toISOString() });
  }
  if (record.lastFailureCause !== undefined) labels.push({ key: `${HEALTH_LABEL_PREFIX}last_failure_cause`, value: record.lastFailureCause.slice(0, MAX_CAUSE) });
  return { labels };
}

/** The record in a status' labels, or undefined when they carry none. */
export function readHealthLabels(labels: { labels?: readonly Label[] } | undefined): HealthRecord | undefined {
  const list = labels?.labels;
  if (list === undefined) return undefined;
  const values = new Map<string, string>();
  for (const label of list) if (label.key.startsWith(HEALTH_LABEL_PREFIX) && label.value !== undefined) values.set(label.key.slice(HEALTH_LABEL_PREFIX.length), label.value);
  const count = values.get('consecutive_failures');
  if (count === undefined || !/^\d{1,9}$/.test(count)) return undefined;
  const record: HealthRecord = { consecutiveFailures: Number(count) };
  for (const [field, key] of Object.entries(TIME_KEYS) as Array<[keyof typeof TIME_KEYS, string]>) {
    const text = values.get(key);
    if (text === undefined || text.length > MAX_TIME_TEXT) continue;
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) record[field] = ms;
  }
  const cause = values.get('last_failure_cause');
  if (cause !== undefined) record.lastFailureCause = cause.slice(0, MAX_CAUSE);
  return record;
}
