import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { DroverError } from '../errors/errors.ts';
import { decodeJsonRecords, decodeRecords, encodeJsonRecord, encodeRecord } from './recordio.ts';
import { RecordIODecoder } from './recordio-decoder.ts';

/** Cut `bytes` at the given sorted, de-duplicated positions. */
function chunkAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function decodeAll(chunks: Uint8Array[], maxRecordBytes?: number): string[] {
  const decoder = new RecordIODecoder(maxRecordBytes === undefined ? {} : { maxRecordBytes });
  const text = new TextDecoder();
  const out = chunks.flatMap((c) => decoder.push(c)).map((r) => text.decode(r));
  decoder.end();
  return out;
}

function expectRecordIOError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DroverError, 'a DroverError');
    assert.equal(e.code, 'DROVER_ERR_RECORDIO');
    assert.equal(e.status, 400);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('RecordIO encoding', () => {
  test('frames the Mesos example exactly', () => {
    // The size counts the data only: no LF after the data, no CR anywhere.
    assert.equal(encodeRecord('{"type": "SUBSCRIBED"}').toString(), '22\n{"type": "SUBSCRIBED"}');
    assert.equal(encodeJsonRecord({ type: 'HEARTBEAT' }).toString(), '20\n{"type":"HEARTBEAT"}');
  });

  test('counts UTF-8 bytes, not characters', () => {
    assert.equal(encodeRecord('é').toString('utf8'), '2\né');
    assert.equal(encodeRecord('日本').subarray(0, 2).toString(), '6\n');
  });

  test('a string record is its UTF-8 bytes (as TextEncoder makes them, lone surrogates too) after the size', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1 }), (text) => {
        const bytes = new TextEncoder().encode(text);
        assert.deepEqual(encodeRecord(text), Buffer.concat([Buffer.from(`${bytes.byteLength}\n`), bytes]));
      }),
    );
  });

  test('refuses an empty record, which the format cannot express', () => {
    expectRecordIOError(() => encodeRecord(''), /never 0/);
  });
});

describe('RecordIO decoding', () => {
  test('any chunking of any records decodes to the same records', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 300, unit: 'grapheme' }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (records, cuts) => {
        const stream = Buffer.concat(records.map((r) => encodeRecord(r)));
        assert.deepEqual(decodeAll(chunkAt(stream, cuts)), records);
      }),
      { numRuns: 500 },
    );
  });

  test('byte-at-a-time decoding works, including inside multi-digit headers', () => {
    const records = ['x'.repeat(12345), 'a', '{"type":"HEARTBEAT"}'];
    const stream = Buffer.concat(records.map((r) => encodeRecord(r)));
    const bytes = [...stream].map((b) => Uint8Array.of(b));
    assert.deepEqual(decodeAll(bytes), records);
  });

  test('records may contain newlines and digits', () => {
    const records = ['12\n34\n', '\n', '0'];
    assert.deepEqual(decodeAll([Buffer.concat(records.map((r) => encodeRecord(r)))]), records);
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['zero length', '0\n', /record-size is 0/],
    ['empty header', '\nabc', /header is empty/],
    ['letters in the size', '1a\nx', /'a'; expected a decimal digit/],
    ['CR before LF', '3\r\nabc', /byte 0x0d/],
    ['negative size', '-3\nabc', /'-'/],
    ['space in the size', ' 3\nabc', /' '/],
    ['size longer than uint64', '123456789012345678901\n', /exceeds the limit|longer than a uint64/],
  ];
  for (const [name, input, pattern] of malformed) {
    test(`rejects ${name} with a clear error`, () => {
      expectRecordIOError(() => decodeAll([Buffer.from(input)]), pattern);
    });
  }

  test('rejects an oversized record before buffering it', () => {
    const decoder = new RecordIODecoder({ maxRecordBytes: 1000 });
    assert.deepEqual(decoder.push(Buffer.from('1000\n')), []);
    expectRecordIOError(() => new RecordIODecoder({ maxRecordBytes: 1000 }).push(Buffer.from('1001')), /exceeds the limit of 1000/);
  });

  test('reports where a stream was truncated', () => {
    expectRecordIOError(() => decodeAll([Buffer.from('10\nabc')]), /7 of 10 bytes missing/);
    expectRecordIOError(() => decodeAll([Buffer.from('5\nhello12')]), /inside a record-size header/);
  });

  test('a failed decoder stays failed: the stream cannot be resynchronised', () => {
    const decoder = new RecordIODecoder();
    assert.throws(() => decoder.push(Buffer.from('x')));
    expectRecordIOError(() => decoder.push(encodeRecord('fine')), /at byte 0/);
  });

  test('garbage never crashes the decoder: it either decodes or throws a RECORDIO error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        try {
          decodeAll(chunkAt(Buffer.from(bytes), cuts), 4096);
        } catch (e) {
          assert.ok(e instanceof DroverError && e.code === 'DROVER_ERR_RECORDIO', String(e));
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('decodes JSON records from a stream', async () => {
    const messages = [{ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'f1' } } }, { type: 'HEARTBEAT' }];
    const stream = Buffer.concat(messages.map((m) => encodeJsonRecord(m)));
    const got: unknown[] = [];
    for await (const m of decodeJsonRecords(Readable.from(chunkAt(stream, [3, 17, 40])))) got.push(m);
    assert.deepEqual(got, messages);
  });

  test('a non-JSON record in a JSON stream is a RECORDIO error', async () => {
    await assert.rejects(async () => {
      for await (const _ of decodeJsonRecords(Readable.from([encodeRecord('{nope')]))) void _;
    }, /not valid JSON/);
  });

  test('a stream that ends mid-record rejects', async () => {
    await assert.rejects(async () => {
      for await (const _ of decodeRecords(Readable.from([Buffer.from('4\nab')]))) void _;
    }, /2 of 4 bytes missing/);
  });
});
