/**
 * A message already serialised as JSON text. Event sinks write `text` as it is instead of
 * stringifying an object tree: the master builds an OFFERS event of 10,000 offers from cached
 * per-agent fragments (src/master/offer-json.ts) rather than allocating 10,000 objects for
 * `JSON.stringify` to walk. `toJSON` parses it back, so a writer that does not know this type
 * still produces the same JSON (only slower).
 */
export class EncodedJson {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    return JSON.parse(this.text) as unknown;
  }
}

/** The JSON text of a message, reusing it when the message is already encoded. */
export function jsonTextOf(message: unknown): string {
  return message instanceof EncodedJson ? message.text : JSON.stringify(message);
}
