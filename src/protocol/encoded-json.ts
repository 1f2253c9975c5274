/**
 * A message already serialised as JSON, as text or as UTF-8 bytes. Event sinks write it as it is
 * instead of stringifying an object tree: the master assembles an OFFERS event of 10,000 offers
 * from cached per-agent bytes (src/master/offer-json.ts) rather than allocating 10,000 object
 * trees for `JSON.stringify` to walk. `toJSON` parses it back, so a writer that does not know
 * this type still produces the same JSON (only slower).
 */
export class EncodedJson {
  private constructor(
    private textForm: string | undefined,
    private bytesForm: Buffer | undefined,
    /** The bytes as a RecordIO record (`<length>\n<bytes>`), when made so. */
    readonly record: Buffer | undefined = undefined,
  ) {}

  static fromText(text: string): EncodedJson {
    return new EncodedJson(text, undefined);
  }

  /** `bytes` must be valid UTF-8 JSON and is not copied: the caller gives it up. */
  static fromBytes(bytes: Buffer): EncodedJson {
    return new EncodedJson(undefined, bytes);
  }

  /**
   * `record` is a RecordIO record of the JSON (`<length>\n` then the bytes), not copied: a stream
   * sends it as it is, so an event of megabytes is not copied again to be framed.
   */
  static fromRecord(record: Buffer, headerLength: number): EncodedJson {
    return new EncodedJson(undefined, record.subarray(headerLength), record);
  }

  get text(): string {
    return (this.textForm ??= this.bytesForm!.toString('utf8'));
  }

  get bytes(): Buffer {
    return (this.bytesForm ??= Buffer.from(this.textForm!, 'utf8'));
  }

  toJSON(): unknown {
    return JSON.parse(this.text) as unknown;
  }
}
