import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { cronErrors, nextCronTick } from './cron.ts';
import { nextIsoTick, parseIsoInterval, type IsoInterval } from './iso-interval.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
/** The first `n` ticks after `from`. */
function ticks(expression: string, timezone: string, from: string, n: number): string[] {
  const out: string[] = [];
  let t = Date.parse(from);
  for (let i = 0; i < n; i++) {
    const next = nextCronTick({ expression, timezone }, t);
    assert.ok(next !== undefined, `${expression} has a tick after ${new Date(t).toISOString()}`);
    out.push(new Date(next).toISOString());
    t = next;
  }
  return out;
}

describe('cron validation', () => {
  test('Feb 30 and other impossible days are rejected with the reason', () => {
    assert.deepEqual(cronErrors('0 0 30 2 *', 'UTC', NOW), ['day-of-month 30 never occurs in February']);
    assert.deepEqual(cronErrors('0 0 31 4,6 *', 'UTC', NOW), ['day-of-month 31 never occurs in April, June']);
    // Feb 29 exists (in leap years), and 31 exists in some listed month.
    assert.deepEqual(cronErrors('0 0 29 2 *', 'UTC', NOW), []);
    assert.deepEqual(cronErrors('0 0 31 1-3 *', 'UTC', NOW), []);
  });

  test('field count, bad values, unknown time zones and past years are rejected', () => {
    assert.match(cronErrors('* * * *', 'UTC', NOW)[0]!, /5 fields/);
    assert.match(cronErrors('0 0 1 1 * 2027 9', 'UTC', NOW)[0]!, /5 fields/);
    assert.match(cronErrors('61 * * * *', 'UTC', NOW)[0]!, /invalid cron expression/);
    assert.match(cronErrors('0 0 * * 8', 'UTC', NOW)[0]!, /invalid cron expression/);
    assert.deepEqual(cronErrors('0 0 * * *', 'Mars/Olympus', NOW), ["'Mars/Olympus' is not an IANA time zone"]);
    assert.match(cronErrors('0 0 1 1 * 2020', 'UTC', NOW)[0]!, /never fires/);
    assert.deepEqual(cronErrors('0 0 1 1 * 2027', 'UTC', NOW), []);
  });
});

describe('cron ticks', () => {
  test('"next tick after t" is strictly after t', () => {
    assert.deepEqual(ticks('* * * * *', 'UTC', '2026-01-01T00:00:00Z', 2), ['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z']);
    assert.deepEqual(ticks('*/15 * * * *', 'UTC', '2026-01-01T00:07:30Z', 2), ['2026-01-01T00:15:00.000Z', '2026-01-01T00:30:00.000Z']);
  });

  test('L (last day of month), W (nearest weekday), # (nth weekday), L on a weekday', () => {
    assert.deepEqual(ticks('0 0 L * *', 'UTC', '2026-01-15T00:00:00Z', 3), ['2026-01-31T00:00:00.000Z', '2026-02-28T00:00:00.000Z', '2026-03-31T00:00:00.000Z']);
    assert.deepEqual(ticks('0 0 L 2 *', 'UTC', '2027-06-01T00:00:00Z', 2), ['2028-02-29T00:00:00.000Z', '2029-02-28T00:00:00.000Z']);
    // 2026-02-15 is a Sunday → Monday the 16th; 2026-03-15 is a Sunday → the 16th; 2026-08-15 is a Saturday → Friday the 14th.
    assert.deepEqual(ticks('0 0 15W * *', 'UTC', '2026-02-01T00:00:00Z', 2), ['2026-02-16T00:00:00.000Z', '2026-03-16T00:00:00.000Z']);
    assert.equal(ticks('0 0 15W 8 *', 'UTC', '2026-01-01T00:00:00Z', 1)[0], '2026-08-14T00:00:00.000Z');
    // The second Friday of the month.
    assert.deepEqual(ticks('0 0 * * 5#2', 'UTC', '2026-02-01T00:00:00Z', 2), ['2026-02-13T00:00:00.000Z', '2026-03-13T00:00:00.000Z']);
    // The last Friday of the month.
    assert.deepEqual(ticks('0 0 * * 5L', 'UTC', '2026-02-01T00:00:00Z', 2), ['2026-02-27T00:00:00.000Z', '2026-03-27T00:00:00.000Z']);
  });

  test('day-of-week 0 and 7 are both Sunday; the optional year field limits the years', () => {
    const sundays = ticks('0 12 * * 0', 'UTC', '2026-02-01T13:00:00Z', 2);
    assert.deepEqual(ticks('0 12 * * 7', 'UTC', '2026-02-01T13:00:00Z', 2), sundays);
    assert.deepEqual(sundays, ['2026-02-08T12:00:00.000Z', '2026-02-15T12:00:00.000Z']);
    assert.deepEqual(ticks('0 0 1 1 * 2028', 'UTC', '2026-06-01T00:00:00Z', 1), ['2028-01-01T00:00:00.000Z']);
    assert.equal(nextCronTick({ expression: '0 0 1 1 * 2028', timezone: 'UTC' }, Date.parse('2028-01-01T00:00:00Z')), undefined);
  });

  test('Europe/Berlin spring forward: 02:30 does not exist on 2026-03-29 → runs once at 03:00 CEST', () => {
    assert.deepEqual(ticks('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 3), [
      '2026-03-28T01:30:00.000Z', // 02:30 CET (+01:00)
      '2026-03-29T01:00:00.000Z', // the gap: first instant after it, 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST (+02:00)
    ]);
  });

  test('Europe/Berlin fall back: 02:30 occurs twice on 2026-10-25 → runs once; hourly runs every real hour', () => {
    assert.deepEqual(ticks('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 2), ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // 00:00Z = 02:00 CEST and 01:00Z = 02:00 CET are two real hours: both fire, none twice.
    assert.deepEqual(ticks('0 * * * *', 'Europe/Berlin', '2026-10-24T23:30:00Z', 4), ['2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z', '2026-10-25T03:00:00.000Z']);
  });

  test('America/New_York: spring forward 2026-03-08 and fall back 2026-11-01', () => {
    assert.deepEqual(ticks('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 3), [
      '2026-03-08T07:00:00.000Z', // 02:30 does not exist → 03:00 EDT
      '2026-03-09T06:30:00.000Z', // 02:30 EDT (-04:00)
      '2026-03-10T06:30:00.000Z',
    ]);
    assert.deepEqual(ticks('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2), [
      '2026-11-01T05:30:00.000Z', // 01:30 EDT, the first of the two 01:30s; not again at 06:30Z (01:30 EST)
      '2026-11-02T06:30:00.000Z', // 01:30 EST (-05:00)
    ]);
    // A daily job at 09:00 stays at 09:00 local across the change (14:00Z in winter, 13:00Z in summer).
    assert.deepEqual(ticks('0 9 * * *', 'America/New_York', '2026-03-07T00:00:00Z', 2), ['2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z']);
  });
});

describe('ISO-8601 repeating intervals (Chronos)', () => {
  const parse = (text: string): IsoInterval => {
    const parsed = parseIsoInterval(text);
    assert.ok(!('error' in parsed), `${text} parses`);
    return parsed;
  };

  test('R/start/PT1H forever; ticks are start + k×period', () => {
    const i = parse('R/2026-01-01T00:00:00Z/PT1H');
    assert.equal(iso(nextIsoTick(i, 0, Date.parse('2025-12-31T00:00:00Z'))), '2026-01-01T00:00:00.000Z');
    assert.equal(iso(nextIsoTick(i, 0, Date.parse('2026-01-01T00:00:00Z'))), '2026-01-01T01:00:00.000Z');
    assert.equal(iso(nextIsoTick(i, 0, Date.parse('2026-03-05T10:30:00Z'))), '2026-03-05T11:00:00.000Z');
  });

  test('Rn stops after n runs; P1M clamps to the month end without drifting', () => {
    const five = parse('R5/2026-01-01T00:00:00Z/P1D');
    assert.equal(iso(nextIsoTick(five, 0, Date.parse('2026-01-04T12:00:00Z'))), '2026-01-05T00:00:00.000Z');
    assert.equal(nextIsoTick(five, 0, Date.parse('2026-01-05T00:00:00Z')), undefined);
    const monthly = parse('R/2026-01-31T00:00:00Z/P1M');
    assert.equal(iso(nextIsoTick(monthly, 0, Date.parse('2026-02-01T00:00:00Z'))), '2026-02-28T00:00:00.000Z');
    assert.equal(iso(nextIsoTick(monthly, 0, Date.parse('2026-03-01T00:00:00Z'))), '2026-03-31T00:00:00.000Z');
  });

  test('an empty start counts from when the schedule was stored; bad forms have reasons', () => {
    const i = parse('R//PT2M');
    const stored = Date.parse('2026-01-01T10:00:00Z');
    assert.equal(iso(nextIsoTick(i, stored, stored)), '2026-01-01T10:02:00.000Z');
    assert.match((parseIsoInterval('R/2026-01-01/PT1H') as { error: string }).error, /date-time with a zone/);
    assert.match((parseIsoInterval('R/2026-01-01T00:00:00Z/1H') as { error: string }).error, /ISO-8601 duration/);
    assert.match((parseIsoInterval('R/2026-01-01T00:00:00Z/PT0S') as { error: string }).error, /at least one second/);
    assert.match((parseIsoInterval('X/2026-01-01T00:00:00Z/PT1H') as { error: string }).error, /repetition/);
  });
});
