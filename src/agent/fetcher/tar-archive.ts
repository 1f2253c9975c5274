/**
 * Reads a tar or tar.gz file entry by entry, streaming, through node-tar's parser (ustar, GNU long
 * names, pax; checksums verified, `strict` so a damaged header is an error rather than a skip).
 * Gzip is undone by node's zlib stream, which inflates on the thread pool. Entries come out as
 * ArchiveEntry; whether they are safe to write is archive-extract.ts' decision. Device nodes,
 * FIFOs and types tar does not know are refused: a sandbox has no use for them.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { ArchiveError, type ArchiveEntry, type EntryVisitor } from './archive-entry.ts';

export function readTarArchive(path: string, gzip: boolean, visit: EntryVisitor): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const source = createReadStream(path);
    const gunzip = gzip ? createGunzip() : undefined;
    const parser = new Parser({ strict: true });
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      source.destroy();
      gunzip?.destroy();
      reject(err instanceof ArchiveError ? err : describe(err as Error & { code?: string }));
    };
    // Entries are visited one at a time, in order: the parser waits while an entry's body is unread.
    let chain = Promise.resolve();
    parser.on('entry', (raw: ReadEntry) => {
      chain = chain.then(async () => {
        if (failed) return void raw.resume();
        const entry = toEntry(raw);
        const body = entry.type === 'file' ? raw : undefined;
        await visit(entry, body);
        raw.resume(); // whatever the visitor left unread
      });
      chain.catch(fail);
    });
    parser.on('ignoredEntry', (raw: ReadEntry) => fail(new ArchiveError(`unsupported tar entry type '${raw.type}' for ${JSON.stringify(raw.path)}`)));
    parser.on('error', fail);
    parser.on('end', () => chain.then(() => (failed ? undefined : resolve()), fail));
    source.on('error', fail);
    if (gunzip === undefined) source.pipe(parser);
    else {
      gunzip.on('error', (err) => fail(new ArchiveError(`cannot decompress: ${err.message}`)));
      source.pipe(gunzip).pipe(parser);
    }
  });
}

function describe(err: Error & { code?: string }): ArchiveError {
  // node-tar's codes: a header that fails its checksum or makes no sense, or input that ends early.
  if (err.code === 'TAR_ENTRY_INVALID' || err.code === 'TAR_BAD_ARCHIVE') {
    return new ArchiveError(`not a tar archive, or a damaged one (${err.message.replace(/^TAR_\w+: /, '')})`);
  }
  return new ArchiveError(`cannot read tar archive: ${err.message}`);
}

function toEntry(raw: ReadEntry): ArchiveEntry {
  const path = raw.path;
  const mode = raw.mode ?? undefined;
  const withMode = mode === undefined ? {} : { mode: mode & 0o7777 };
  switch (raw.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return path.endsWith('/') ? { path, type: 'dir', ...withMode } : { path, type: 'file', size: raw.size ?? 0, ...withMode };
    case 'Directory':
      return { path, type: 'dir', ...withMode };
    case 'SymbolicLink':
      return { path, type: 'symlink', linkTarget: raw.linkpath ?? '', ...withMode };
    case 'Link':
      return { path, type: 'hardlink', linkTarget: raw.linkpath ?? '', ...withMode };
    default:
      throw new ArchiveError(`unsupported tar entry type '${raw.type}' for ${JSON.stringify(path)}`);
  }
}
