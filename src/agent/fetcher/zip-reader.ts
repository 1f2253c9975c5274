/**
 * A small zip reader (pure, over a Buffer): the central directory is the truth (local headers may
 * carry zero sizes when data descriptors are used), methods stored (0) and deflate (8, via
 * zlib.inflateRawSync). Unix modes come from the external attributes when the archive was made on
 * Unix, which is also how a symlink is marked. Zip64, encryption and other methods are refused.
 */
import { inflateRawSync } from 'node:zlib';
import type { ArchiveEntry } from './archive-entry.ts';
import { ArchiveError } from './archive-entry.ts';

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

export function readZip(data: Buffer, maxEntryBytes: number): ArchiveEntry[] {
  const eocd = findEndOfCentralDirectory(data);
  const count = data.readUInt16LE(eocd + 10);
  let pos = data.readUInt32LE(eocd + 16);
  if (count === 0xffff || pos === 0xffffffff) throw new ArchiveError('zip64 archives are not supported');
  const entries: ArchiveEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (pos + 46 > data.length || data.readUInt32LE(pos) !== CENTRAL) throw new ArchiveError(`bad zip central directory entry ${i}`);
    const madeBy = data.readUInt16LE(pos + 4) >> 8;
    const flags = data.readUInt16LE(pos + 8);
    const method = data.readUInt16LE(pos + 10);
    const compressedSize = data.readUInt32LE(pos + 20);
    const size = data.readUInt32LE(pos + 24);
    const nameLength = data.readUInt16LE(pos + 28);
    const extraLength = data.readUInt16LE(pos + 30);
    const commentLength = data.readUInt16LE(pos + 32);
    const external = data.readUInt32LE(pos + 38);
    const localOffset = data.readUInt32LE(pos + 42);
    const path = data.subarray(pos + 46, pos + 46 + nameLength).toString('utf8');
    pos += 46 + nameLength + extraLength + commentLength;

    if ((flags & 1) !== 0) throw new ArchiveError(`encrypted zip entry ${JSON.stringify(path)} is not supported`);
    if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) throw new ArchiveError('zip64 archives are not supported');
    if (size > maxEntryBytes) throw new ArchiveError(`zip entry ${JSON.stringify(path)} is larger than ${maxEntryBytes} bytes`);
    // Unix "made by" (3) keeps st_mode in the high 16 bits.
    const unixMode = madeBy === 3 ? external >>> 16 : 0;
    const mode = unixMode === 0 ? undefined : unixMode & 0o7777;
    if (path.endsWith('/') || (unixMode & S_IFMT) === S_IFDIR) {
      entries.push({ path, type: 'dir', ...(mode === undefined ? {} : { mode }) });
      continue;
    }
    const body = entryData(data, localOffset, compressedSize, size, method, path);
    if ((unixMode & S_IFMT) === S_IFLNK) {
      entries.push({ path, type: 'symlink', linkTarget: body.toString('utf8'), ...(mode === undefined ? {} : { mode }) });
    } else {
      entries.push({ path, type: 'file', data: body, ...(mode === undefined ? {} : { mode }) });
    }
  }
  return entries;
}

function findEndOfCentralDirectory(data: Buffer): number {
  // The record is 22 bytes plus a comment of up to 65535.
  const lowest = Math.max(0, data.length - 22 - 0xffff);
  for (let pos = data.length - 22; pos >= lowest; pos--) {
    if (data.readUInt32LE(pos) === EOCD) return pos;
  }
  throw new ArchiveError('not a zip archive (no end of central directory)');
}

function entryData(data: Buffer, localOffset: number, compressedSize: number, size: number, method: number, path: string): Buffer {
  if (localOffset + 30 > data.length || data.readUInt32LE(localOffset) !== LOCAL) throw new ArchiveError(`bad zip local header for ${JSON.stringify(path)}`);
  const start = localOffset + 30 + data.readUInt16LE(localOffset + 26) + data.readUInt16LE(localOffset + 28);
  const end = start + compressedSize;
  if (end > data.length) throw new ArchiveError(`truncated zip entry ${JSON.stringify(path)}`);
  const raw = data.subarray(start, end);
  let body: Buffer;
  if (method === 0) body = raw;
  else if (method === 8) {
    try {
      // One byte over the declared size, so a lying header is caught rather than trusted.
      body = inflateRawSync(raw, { maxOutputLength: Math.max(1, size + 1) });
    } catch (err) {
      throw new ArchiveError(`cannot inflate zip entry ${JSON.stringify(path)}: ${(err as Error).message}`);
    }
  } else throw new ArchiveError(`zip entry ${JSON.stringify(path)} uses unsupported compression method ${method}`);
  if (body.length !== size) throw new ArchiveError(`zip entry ${JSON.stringify(path)} is ${body.length} bytes, its header says ${size}`);
  return body;
}
