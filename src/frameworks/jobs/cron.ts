/**
 * Cron evaluation, pure: parse Metronome's cron form (5 fields minute hour day-of-month month
 * day-of-week, optional 6th field year; `L`, `W`, `#`, day-of-week 0–7 with 7 = Sunday) in an
 * IANA time zone, and answer "the next tick after t". croner does the calendar walk underneath;
 * this module owns the validation (Feb 30 is an error, not a schedule that never fires) and the
 * DST rule, which is croner's and Vixie cron's:
 * - a fixed local time inside a spring-forward gap (02:30 in Berlin on the last Sunday of March)
 *   runs once, at the first instant after the gap (03:00 local);
 * - a fixed local time that occurs twice on fall-back runs once, at its first occurrence;
 * - interval patterns (`0 * * * *`) follow real time: every real hour fires, none twice.
 */
import { Cron } from 'croner';

export interface CronSpec {
  readonly expression: string;
  readonly timezone: string;
}

const MONTH_NAMES = ['', 'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
/** Longest possible month lengths (February 29 exists in leap years). */
const MAX_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True when `timezone` is an IANA zone name the runtime knows. */
export function isTimeZone(timezone: string): boolean {
  if (timezone.length === 0) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** The reasons `expression` is not a valid cron schedule (empty when it is). `now` bounds "never fires". */
export function cronErrors(expression: string, timezone: string, now: number): string[] {
  if (!isTimeZone(timezone)) return [`'${timezone}' is not an IANA time zone`];
  const fields = expression.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) {
    return [`a cron expression has 5 fields (minute hour day-of-month month day-of-week) and an optional year, got ${fields.length}`];
  }
  const impossible = impossibleDay(fields[2]!, fields[3]!);
  if (impossible) return [impossible];
  let cron: Cron;
  try {
    cron = build(expression, timezone);
  } catch (e) {
    return [`invalid cron expression '${expression}': ${e instanceof Error ? e.message.replace(/^CronPattern: /, '') : String(e)}`];
  }
  if (cron.nextRun(new Date(now)) === null) return [`cron expression '${expression}' never fires after ${new Date(now).toISOString()}`];
  return [];
}

/** The first tick strictly after `after` (ms since epoch), or undefined when there is none. */
export function nextCronTick(spec: CronSpec, after: number): number | undefined {
  // croner works in whole seconds and returns ticks strictly after the given time.
  const next = compiled(spec).nextRun(new Date(after));
  return next === null ? undefined : next.getTime();
}

/** Parsed patterns, reused: every schedule is asked for its next tick every second. */
const cache = new Map<string, Cron>();
const CACHE_SIZE = 10_000;

function compiled(spec: CronSpec): Cron {
  const key = `${spec.timezone} ${spec.expression}`;
  let cron = cache.get(key);
  if (!cron) {
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(key, (cron = build(spec.expression, spec.timezone)));
  }
  return cron;
}

function build(expression: string, timezone: string): Cron {
  // Metronome's 5(+year) fields become croner's 6/7-part form with second 0.
  return new Cron(`0 ${expression.trim()}`, { paused: true, timezone, mode: '6-or-7-parts', domAndDow: false });
}

/**
 * Metronome (CronSpec.scala) rejects a day of month that no listed month has, e.g.
 * `0 0 30 2 *`. Checked only when both fields are plain numbers, lists or ranges.
 */
function impossibleDay(dom: string, month: string): string | undefined {
  const days = plainValues(dom, 1, 31);
  const months = plainValues(month, 1, 12);
  if (!days || !months || days.length === 0 || months.length === 0) return undefined;
  const possible = days.some((d) => months.some((m) => d <= MAX_DAYS[m]!));
  if (possible) return undefined;
  const names = months.map((m) => MONTH_NAMES[m]).join(', ');
  return `day-of-month ${dom} never occurs in ${names}`;
}

function plainValues(field: string, min: number, max: number): number[] | undefined {
  if (!/^[0-9,-]+$/.test(field)) return undefined;
  const out: number[] = [];
  for (const part of field.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < min || to > max || from > to) return undefined;
    for (let v = from; v <= to; v++) out.push(v);
  }
  return out;
}
