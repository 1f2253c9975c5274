/**
 * Incremental parsers for the two event streams the UI follows, fed with whatever byte chunks the
 * network delivers (a frame may be split anywhere, several may arrive at once). Pure: no DOM, no
 * network — tested in test/ui-streams.test.ts.
 */
import { DEFAULT_MAX_RECORD_BYTES, RecordIODecoder } from '../../src/protocol/recordio-decoder.ts';

export function sseParser(onEvent: (type: string, data: Record<string, unknown>) => void): (chunk: Uint8Array) => void {
  const decoder = new TextDecoder();
  let buffer = '';
  return (chunk) => {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      try {
        onEvent(type, JSON.parse(data.join('\n')) as Record<string, unknown>);
      } catch {
        onEvent(type, {});
      }
    }
  };
}

/**
 * RecordIO through the server's own decoder (src/protocol/recordio-decoder.ts), so the UI frames
 * exactly as the master does and refuses a record over `maxRecordBytes` before buffering it. A
 * malformed or oversized frame throws: the stream cannot be resynchronised, and the caller
 * (live.ts) drops the connection and opens a new one. A whole record that is not JSON is skipped.
 */
export function recordIoParser(onRecord: (m: Record<string, unknown>) => void, maxRecordBytes = DEFAULT_MAX_RECORD_BYTES): (chunk: Uint8Array) => void {
  const decoder = new RecordIODecoder({ maxRecordBytes });
  const text = new TextDecoder();
  return (chunk) => {
    for (const record of decoder.push(chunk)) {
      try {
        onRecord(JSON.parse(text.decode(record)) as Record<string, unknown>);
      } catch {
        // A record we cannot read is skipped; the next invalidation or poll catches up.
      }
    }
  };
}
