/**
 * Incremental parsers for the two event streams the UI follows, fed with whatever byte chunks the
 * network delivers (a frame may be split anywhere, several may arrive at once). Pure: no DOM, no
 * network — tested in test/ui-streams.test.ts.
 */

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
 * RecordIO: `<length>\n<json>` repeated; lengths count bytes. Chunks are kept as they arrive and
 * joined only once a whole record is there, so a multi-megabyte first record (the SUBSCRIBED
 * snapshot of a large cluster) is not copied again for every chunk.
 */
export function recordIoParser(onRecord: (m: Record<string, unknown>) => void): (chunk: Uint8Array) => void {
  const decoder = new TextDecoder();
  let chunks: Uint8Array[] = [];
  let size = 0;
  let need = -1;
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = chunks[0]!;
      const part = Math.min(head.length, n - filled);
      out.set(head.subarray(0, part), filled);
      filled += part;
      if (part === head.length) chunks.shift();
      else chunks[0] = head.subarray(part);
    }
    size -= n;
    return out;
  };
  return (chunk) => {
    chunks.push(chunk);
    size += chunk.length;
    for (;;) {
      if (need < 0) {
        // The length line is short: find its newline across the first few chunks.
        let offset = 0;
        let nl = -1;
        for (const c of chunks) {
          const i = c.indexOf(10);
          if (i >= 0) {
            nl = offset + i;
            break;
          }
          offset += c.length;
        }
        if (nl < 0) return;
        need = Number(decoder.decode(take(nl + 1)).trim());
      }
      if (size < need) return;
      const record = decoder.decode(take(need));
      need = -1;
      try {
        onRecord(JSON.parse(record) as Record<string, unknown>);
      } catch {
        // A record we cannot read is skipped; the next invalidation or poll catches up.
      }
      if (size === 0) chunks = [];
    }
  };
}
