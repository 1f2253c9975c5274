/**
 * RecordIO, exactly as Mesos frames its streams (docs/recordio.md in apache/mesos):
 *
 *   records     = *record
 *   record      = record-size LF record-data
 *   record-size = 1*DIGIT        ; decimal byte count of record-data, never 0
 *
 * No CR, nothing after the data. Transport chunks are unrelated to records (proxies re-chunk),
 * so the decoder buffers across arbitrary boundaries, including inside the size header.
 */
import { DroverError } from '../errors/errors.ts';
import { EncodedJson } from './encoded-json.ts';

const LF = 0x0a;
const ZERO = 0x30;
const NINE = 0x39;
const encoder = new TextEncoder();

/** Default cap on one record (Mesos has none; an unbounded peer could exhaust our memory). */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** A uint64 has at most 20 decimal digits; a longer header cannot be a valid size. */
const MAX_HEADER_DIGITS = 20;

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
  return message instanceof EncodedJson ? encodeRecord(message.bytes) : encodeRecord(JSON.stringify(message));
}

export interface RecordIODecoderOptions {
  /** Records larger than this are rejected before any of their bytes are buffered. */
  maxRecordBytes?: number;
}

/**
 * Incremental decoder. `push` takes any chunk and returns the records it completed. After a
 * malformed frame the decoder is failed: every later call throws the same error, because the
 * stream can no longer be resynchronised (a length prefix is the only framing).
 */
export class RecordIODecoder {
  private readonly maxRecordBytes: number;
  /** Value of the size header read so far (digits), or -1 once the header's LF was seen. */
  private headerValue = 0;
  private headerDigits = 0;
  /** Bytes still missing from the record being read; 0 while reading a header. */
  private remaining = 0;
  private parts: Uint8Array[] = [];
  private partsBytes = 0;
  private offset = 0;
  private failure: DroverError | undefined;

  constructor(options: RecordIODecoderOptions = {}) {
    const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new DroverError('RECORDIO', `maxRecordBytes must be a positive integer, got ${String(max)}`);
    }
    this.maxRecordBytes = max;
  }

  /** Byte offset in the whole stream of the next byte to be read (for error messages). */
  get position(): number {
    return this.offset;
  }

  /** True when the decoder stopped exactly between records (a clean end of stream). */
  get atBoundary(): boolean {
    return this.failure === undefined && this.remaining === 0 && this.headerDigits === 0;
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.failure) throw this.failure;
    const records: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining === 0) {
        i = this.readHeader(chunk, i);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - i);
      this.parts.push(chunk.subarray(i, i + take));
      this.partsBytes += take;
      this.remaining -= take;
      this.offset += take;
      i += take;
      if (this.remaining === 0) {
        records.push(this.parts.length === 1 ? Buffer.from(this.parts[0]!) : Buffer.concat(this.parts, this.partsBytes));
        this.parts = [];
        this.partsBytes = 0;
      }
    }
    return records;
  }

  /** Declare the end of the stream; throws if it ended inside a record. */
  end(): void {
    if (this.failure) throw this.failure;
    if (!this.atBoundary) {
      this.fail(
        this.remaining > 0
          ? `stream ended inside a record: ${this.remaining} of ${this.partsBytes + this.remaining} bytes missing`
          : 'stream ended inside a record-size header',
      );
    }
  }

  private readHeader(chunk: Uint8Array, start: number): number {
    let i = start;
    while (i < chunk.length) {
      const byte = chunk[i]!;
      if (byte === LF) {
        if (this.headerDigits === 0) this.fail('record-size header is empty');
        if (this.headerValue === 0) this.fail('record-size is 0; RecordIO records are never empty');
        this.remaining = this.headerValue;
        this.headerValue = 0;
        this.headerDigits = 0;
        this.offset += 1;
        return i + 1;
      }
      if (byte < ZERO || byte > NINE) {
        const shown = byte >= 0x20 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `byte 0x${byte.toString(16).padStart(2, '0')}`;
        this.fail(`record-size header has ${shown}; expected a decimal digit or LF`);
      }
      this.headerDigits += 1;
      if (this.headerDigits > MAX_HEADER_DIGITS) this.fail('record-size header is longer than a uint64');
      this.headerValue = this.headerValue * 10 + (byte - ZERO);
      if (this.headerValue > this.maxRecordBytes) {
        this.fail(`record of at least ${this.headerValue} bytes exceeds the limit of ${this.maxRecordBytes} bytes`);
      }
      this.offset += 1;
      i += 1;
    }
    return i;
  }

  private fail(reason: string): never {
    this.failure = new DroverError('RECORDIO', `malformed RecordIO at byte ${this.offset}: ${reason}`);
    throw this.failure;
  }
}

/** Decode a byte stream (e.g. an HTTP response body) into records. */
export async function* decodeRecords(
  source: AsyncIterable<Uint8Array>,
  options?: RecordIODecoderOptions,
): AsyncGenerator<Buffer> {
  const decoder = new RecordIODecoder(options);
  for await (const chunk of source) {
    yield* decoder.push(chunk);
  }
  decoder.end();
}

/** Decode a byte stream of JSON records. A record that is not JSON is a RECORDIO error. */
export async function* decodeJsonRecords<T = unknown>(
  source: AsyncIterable<Uint8Array>,
  options?: RecordIODecoderOptions,
): AsyncGenerator<T> {
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
