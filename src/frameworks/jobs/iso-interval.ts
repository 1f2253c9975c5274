/**
 * Chronos' schedule form, pure: an ISO-8601 repeating interval `R[n]/<start>/<duration>`
 * (`R/2026-01-01T00:00:00Z/PT1H` forever, `R5/…/P1D` five times). An empty start means "from
 * when the schedule was stored" (the caller passes that as `defaultStart`).
 *
 * Durations with years, months, weeks or days are added on the UTC calendar (P1M from Jan 31 is
 * Feb 28/29, then Mar 28/29 — each repetition is start + k×duration, never a running sum, so days
 * do not drift); the time part (H, M, S) is exact elapsed time.
 */

export interface IsoInterval {
  /** Repetitions; undefined = forever. */
  repeat: number | undefined;
  /** Start in ms since epoch; undefined = the schedule's creation time. */
  start: number | undefined;
  duration: { years: number; months: number; days: number; ms: number };
}

const DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

export function isIsoInterval(text: string): boolean {
  return /^R\d*\//.test(text.trim());
}

/** Parse, or return the reason it is not a repeating interval. */
export function parseIsoInterval(text: string): IsoInterval | { error: string } {
  const parts = text.trim().split('/');
  if (parts.length !== 3) return { error: `'${text}' is not R[n]/<start>/<duration>` };
  const [r, startText, durationText] = parts as [string, string, string];
  const rm = /^R(\d*)$/.exec(r);
  if (!rm) return { error: `'${r}' is not a repetition (R or Rn)` };
  const repeat = rm[1] === '' ? undefined : Number(rm[1]);
  let start: number | undefined;
  if (startText !== '') {
    // A start without an offset would depend on the server's zone: require Z or ±hh:mm.
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(startText)) {
      return { error: `start '${startText}' is not an ISO-8601 date-time with a zone (e.g. 2026-01-01T00:00:00Z)` };
    }
    start = Date.parse(startText.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
    if (Number.isNaN(start)) return { error: `start '${startText}' is not a valid date-time` };
  }
  const dm = DURATION.exec(durationText);
  if (!dm || durationText === 'P' || durationText.endsWith('T')) return { error: `'${durationText}' is not an ISO-8601 duration (e.g. PT1H, P1D)` };
  const n = (i: number): number => (dm[i] === undefined ? 0 : Number(dm[i]));
  const duration = { years: n(1), months: n(2), days: n(3) * 7 + n(4), ms: ((n(5) * 60 + n(6)) * 60 + n(7)) * 1000 };
  if (duration.years + duration.months + duration.days === 0 && duration.ms < 1000) return { error: `duration '${durationText}' must be at least one second` };
  return { repeat, start, duration };
}

/** The k-th repetition (k = 0 is the start). */
function occurrence(interval: IsoInterval, start: number, k: number): number {
  const { years, months, days, ms } = interval.duration;
  if (years === 0 && months === 0) return start + k * (days * 86_400_000 + ms);
  const d = new Date(start);
  const y = d.getUTCFullYear() + k * years;
  const m = d.getUTCMonth() + k * months;
  // Clamp the day to the target month's length (Jan 31 + P1M = Feb 28/29).
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const base = Date.UTC(y, m, Math.min(d.getUTCDate(), last), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  return base + k * (days * 86_400_000 + ms);
}

/** First tick strictly after `after`; undefined when the repetitions are used up. */
export function nextIsoTick(interval: IsoInterval, defaultStart: number, after: number): number | undefined {
  const start = interval.start ?? defaultStart;
  const limit = interval.repeat;
  if (after < start) return limit === 0 ? undefined : start;
  const { years, months, days, ms } = interval.duration;
  // Estimate k from an average period, then walk to the exact one.
  const approx = years * 365.2425 * 86_400_000 + months * 30.436875 * 86_400_000 + days * 86_400_000 + ms;
  let k = Math.max(0, Math.floor((after - start) / approx) - 2);
  while (occurrence(interval, start, k) <= after) k++;
  while (k > 0 && occurrence(interval, start, k - 1) > after) k--;
  // Chronos counts R5 as five runs in all: k = 0..4.
  if (limit !== undefined && k >= limit) return undefined;
  return occurrence(interval, start, k);
}
