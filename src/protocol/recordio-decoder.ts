/**
 * The incremental RecordIO decoder (framing in recordio.ts), with a limit on the size of one
 * record. Browser-safe — no Node `Buffer` — so the server and the web UI decode with this one
 * implementation and the same limit.
 */
import { DroverError } from '../errors/errors.ts';

const LF = 0x0a;
const ZERO = 0x30;
const NINE = 0x39;

/** Default cap on one record (Mesos has none; an unbounded peer could exhaust our memory). */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** A uint64 has at most 20 decimal digits; a longer header cannot be a valid size. */
const MAX_HEADER_DIGITS = 20;

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

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failure) throw this.failure;
    const records: Uint8Array[] = [];
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
        records.push(this.joinParts());
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
      this.fail(this.remaining > 0 ? `stream ended inside a record: ${this.remaining} of ${this.partsBytes + this.remaining} bytes missing` : 'stream ended inside a record-size header');
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

  /** The record's bytes, copied out of the chunks: a caller may reuse a chunk once pushed. */
  private joinParts(): Uint8Array {
    const out = new Uint8Array(this.partsBytes);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }

  private fail(reason: string): never {
    this.failure = new DroverError('RECORDIO', `malformed RecordIO at byte ${this.offset}: ${reason}`);
    throw this.failure;
  }
}
