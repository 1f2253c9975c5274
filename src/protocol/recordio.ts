/**
 * RecordIO, exactly as Mesos frames its streams (docs/recordio.md in apache/mesos):
 *
 *   records     = *record
 *   record      = record-size LF record-data
 *   record-size = 1*DIGIT        ; decimal byte count of record-data, never 0
 *
 * No CR, nothing after the data. Transport chunks are unrelated to records (proxies re-chunk),
 * so the decoder buffers across arbitrary boundaries, including inside the size header.
 *
 * The decoder itself is in recordio-decoder.ts, free of Node's Buffer so the web UI uses it too;
 * this file adds the encoders and the Node stream helpers.
 */
import { DroverError } from '../errors/errors.ts';
import { EncodedJson } from './encoded-json.ts';
import { RecordIODecoder, type RecordIODecoderOptions } from './recordio-decoder.ts';

const encoder = new TextEncoder();

/** Frame one record. Strings are encoded as UTF-8; the size counts bytes, not characters. */
export function encodeRecord(record: string | Uint8Array): Buffer {
  if (typeof record === 'string') return encodeStringRecord(record);
  const data = record;
  if (data.byteLength === 0) {
    throw new DroverError('RECORDIO', 'RecordIO records cannot be empty (record-size is never 0)');
  }
  const header = encoder.encode(`${data.byteLength}\n`);
  const out = Buffer.allocUnsafe(header.byteLength + data.byteLength);
  out.set(header, 0);
  out.set(data, header.byteLength);
  return out;
}

/**
 * A string is written into the output buffer directly: encoding it to bytes first and copying
 * them after the header doubled the copying of every event (an OFFERS event at 10,000 agents is
 * several megabytes).
 */
function encodeStringRecord(record: string): Buffer {
  const size = Buffer.byteLength(record, 'utf8');
  if (size === 0) {
    throw new DroverError('RECORDIO', 'RecordIO records cannot be empty (record-size is never 0)');
  }
  const header = `${size}\n`;
  const out = Buffer.allocUnsafe(header.length + size);
  out.write(header, 0, 'latin1');
  out.write(record, header.length, 'utf8');
  return out;
}

/** Frame one JSON message (an `EncodedJson` is framed as its bytes, not re-encoded). */
export function encodeJsonRecord(message: unknown): Buffer {
  if (message instanceof EncodedJson) return message.record ?? encodeRecord(message.bytes);
  return encodeRecord(JSON.stringify(message));
}

/** Decode a byte stream (e.g. an HTTP response body) into records. */
export async function* decodeRecords(source: AsyncIterable<Uint8Array>, options?: RecordIODecoderOptions): AsyncGenerator<Buffer> {
  const decoder = new RecordIODecoder(options);
  for await (const chunk of source) {
    // A view, not a copy: the decoder already gave each record bytes of its own.
    for (const record of decoder.push(chunk)) yield Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  }
  decoder.end();
}

/** Decode a byte stream of JSON records. A record that is not JSON is a RECORDIO error. */
export async function* decodeJsonRecords<T = unknown>(source: AsyncIterable<Uint8Array>, options?: RecordIODecoderOptions): AsyncGenerator<T> {
  for await (const record of decodeRecords(source, options)) {
    yield parseJsonRecord<T>(record);
  }
}

export function parseJsonRecord<T = unknown>(record: Uint8Array): T {
  try {
    return JSON.parse(Buffer.from(record.buffer, record.byteOffset, record.byteLength).toString('utf8')) as T;
  } catch (cause) {
    throw new DroverError('RECORDIO', `RecordIO record of ${record.byteLength} bytes is not valid JSON`, { cause });
  }
}
