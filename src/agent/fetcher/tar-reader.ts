/**
 * A small tar reader (pure, over a Buffer): ustar, GNU long names ('L'/'K') and the pax
 * `path`/`linkpath`/`size` records, which is what GNU tar, bsdtar and Python write. Entries come
 * out as ArchiveEntry; whether they are safe to write is archive-extract.ts' decision. Device
 * nodes and FIFOs are refused: a sandbox has no use for them.
 */
import type { ArchiveEntry } from './archive-entry.ts';
import { ArchiveError } from './archive-entry.ts';

const BLOCK = 512;

export function readTar(data: Buffer): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (offset + BLOCK <= data.length) {
    const header = data.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end of archive
    verifyChecksum(header, offset);
    const typeflag = String.fromCharCode(header[156] ?? 0);
    let size = parseNumber(header.subarray(124, 136), 'size', offset);
    if (pax['size'] !== undefined) size = Number(pax['size']);
    const start = offset + BLOCK;
    const end = start + size;
    if (!Number.isSafeInteger(size) || size < 0 || end > data.length) throw new ArchiveError(`truncated tar entry at byte ${offset}`);
    const body = data.subarray(start, end);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;

    if (typeflag === 'L') {
      longName = cString(body);
      continue;
    }
    if (typeflag === 'K') {
      longLink = cString(body);
      continue;
    }
    if (typeflag === 'x') {
      pax = parsePax(body);
      continue;
    }
    if (typeflag === 'g') continue; // global pax header: nothing we use
    const prefix = cString(header.subarray(345, 500));
    const ustar = header.subarray(257, 262).toString('latin1') === 'ustar';
    const shortName = cString(header.subarray(0, 100));
    const path = pax['path'] ?? longName ?? (ustar && prefix !== '' ? `${prefix}/${shortName}` : shortName);
    const linkTarget = pax['linkpath'] ?? longLink ?? cString(header.subarray(157, 257));
    const mode = parseNumber(header.subarray(100, 108), 'mode', offset) & 0o7777;
    longName = undefined;
    longLink = undefined;
    pax = {};
    switch (typeflag) {
      case '0':
      case '\0':
      case '7':
        entries.push({ path, type: path.endsWith('/') ? 'dir' : 'file', mode, data: body });
        break;
      case '5':
        entries.push({ path, type: 'dir', mode });
        break;
      case '2':
        entries.push({ path, type: 'symlink', mode, linkTarget });
        break;
      case '1':
        entries.push({ path, type: 'hardlink', mode, linkTarget });
        break;
      default:
        throw new ArchiveError(`unsupported tar entry type '${typeflag}' for ${JSON.stringify(path)}`);
    }
  }
  return entries;
}

function cString(bytes: Buffer): string {
  const nul = bytes.indexOf(0);
  return bytes.subarray(0, nul < 0 ? bytes.length : nul).toString('utf8');
}

/** Octal digits, or GNU's base-256 for big values (high bit of the first byte set). */
function parseNumber(field: Buffer, what: string, offset: number): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new ArchiveError(`bad tar ${what} field at byte ${offset}`);
  return parseInt(text, 8);
}

function verifyChecksum(header: Buffer, offset: number): void {
  let expected: number;
  try {
    expected = parseNumber(header.subarray(148, 156), 'checksum', offset);
  } catch {
    expected = -1;
  }
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
  if (sum !== expected) throw new ArchiveError(`not a tar archive (bad header checksum at byte ${offset})`);
}

/** pax records: "<length> <key>=<value>\n", length counting the whole record. */
function parsePax(body: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space < 0) break;
    const length = parseInt(body.subarray(pos, space).toString('latin1'), 10);
    if (!Number.isSafeInteger(length) || length <= 0 || pos + length > body.length) throw new ArchiveError('bad pax header');
    const record = body.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return records;
}
