/**
 * The pure parts of the web UI that must hold for any input: the stream parsers (frames split
 * anywhere by the network) and the windowed list's row range.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { recordIoParser, sseParser } from '../web/src/streams.ts';
import { visibleRange } from '../web/src/window.ts';

const encoder = new TextEncoder();

/** Cut `bytes` at the given (sorted, deduplicated) offsets. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

const record = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.boolean()), { maxKeys: 5 });

describe('RecordIO parser', () => {
  test('returns every record, whole and in order, however the bytes are chunked (multi-byte text included)', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (records, cuts) => {
        const body = records
          .map((r) => {
            const json = encoder.encode(JSON.stringify(r));
            return `${json.length}\n${JSON.stringify(r)}`;
          })
          .join('');
        const got: unknown[] = [];
        const feed = recordIoParser((m) => got.push(m));
        for (const chunk of split(encoder.encode(body), cuts)) feed(chunk);
        assert.deepEqual(
          got,
          records.map((r) => JSON.parse(JSON.stringify(r)) as unknown),
        );
      }),
    );
  });

  test("a 5 MB first record (a large cluster's SUBSCRIBED snapshot) in 64 KiB chunks", () => {
    const big = { type: 'SUBSCRIBED', tasks: Array.from({ length: 40_000 }, (_, i) => ({ id: `task-${i}`, state: 'TASK_RUNNING', note: 'ü€' })) };
    const json = encoder.encode(JSON.stringify(big));
    const bytes = encoder.encode(`${json.length}\n${JSON.stringify(big)}12\n{"type":"x"}`);
    const got: Array<Record<string, unknown>> = [];
    const feed = recordIoParser((m) => got.push(m));
    for (let i = 0; i < bytes.length; i += 65536) feed(bytes.subarray(i, i + 65536));
    assert.equal(got.length, 2);
    assert.equal((got[0]!['tasks'] as unknown[]).length, 40_000);
    assert.deepEqual(got[1], { type: 'x' });
  });
  test('refuses a record over the frame limit before buffering it, and stays failed', () => {
    const got: unknown[] = [];
    const feed = recordIoParser((m) => got.push(m), 1000);
    feed(encoder.encode('12\n{"type":"x"}'));
    // Only the size header of the oversized record has arrived: it is refused already.
    assert.throws(() => feed(encoder.encode('1001\n')), /exceeds the limit of 1000 bytes/);
    assert.throws(() => feed(encoder.encode('12\n{"type":"y"}')), /malformed RecordIO/);
    assert.deepEqual(got, [{ type: 'x' }]);
  });

  test('a malformed size header throws (live.ts then reconnects) instead of misreading the stream', () => {
    const feed = recordIoParser(() => undefined);
    assert.throws(() => feed(encoder.encode('12x\n{}')), /expected a decimal digit/);
  });

  test('a whole record that is not JSON is skipped; the next one is read', () => {
    const got: unknown[] = [];
    const feed = recordIoParser((m) => got.push(m));
    feed(encoder.encode('5\n{nope12\n{"type":"x"}'));
    assert.deepEqual(got, [{ type: 'x' }]);
  });
});

describe('SSE parser', () => {
  test('returns every event with its type and data, however the bytes are chunked', () => {
    const type = fc.stringMatching(/^[a-z_]{1,20}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(type, record), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (events, cuts) => {
        const body = events.map(([t, d]) => `event: ${t}\ndata: ${JSON.stringify(d)}\n\n`).join('');
        const got: Array<[string, unknown]> = [];
        const feed = sseParser((t, d) => got.push([t, d]));
        for (const chunk of split(encoder.encode(body), cuts)) feed(chunk);
        assert.deepEqual(
          got,
          events.map(([t, d]) => [t, JSON.parse(JSON.stringify(d)) as unknown]),
        );
      }),
    );
  });
});

describe('windowed list range', () => {
  test('covers every row in view, stays within the list, and renders a bounded number of rows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 20_000_000 }),
        (count, viewport, rowHeight, overscan, scroll) => {
          const { first, last } = visibleRange(scroll, viewport, rowHeight, count, overscan);
          assert.ok(0 <= first && first <= last && last <= count);
          // Every row that intersects [scroll, scroll + viewport) is rendered.
          const firstVisible = Math.floor(scroll / rowHeight);
          const lastVisible = Math.min(count, Math.ceil((scroll + viewport) / rowHeight));
          if (viewport > 0) for (const i of [firstVisible, lastVisible - 1]) if (i >= firstVisible && i < lastVisible) assert.ok(first <= i && i < last, `row ${i} in [${first}, ${last})`);
          // 10,000 or 100,000 rows: never more than a screenful plus the overscan.
          assert.ok(last - first <= Math.ceil(viewport / rowHeight) + 2 * overscan + 1);
        },
      ),
    );
  });
});
