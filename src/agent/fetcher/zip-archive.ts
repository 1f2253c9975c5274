/**
 * Reads a zip file entry by entry through yauzl: the central directory is the truth, bodies are
 * inflated by node's zlib streams (on the thread pool), and each body is checked against its
 * declared size as it streams. yauzl refuses absolute and `..` names itself; zip64 is read.
 * Unix modes come from the external attributes when the archive was made on Unix, which is also
 * how a symlink is marked. Encrypted entries and methods other than stored/deflate are refused.
 */
import yauzl from 'yauzl';
import { ArchiveError, type ArchiveEntry, type EntryVisitor } from './archive-entry.ts';

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
/** Longest symlink text read (PATH_MAX); the link text is the entry's body. */
const MAX_LINK_BYTES = 4096;

export function readZipArchive(path: string, visit: EntryVisitor): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (err: unknown): void => reject(err instanceof ArchiveError ? err : new ArchiveError(`cannot read zip archive: ${(err as Error).message}`));
    yauzl.open(path, { lazyEntries: true, autoClose: true, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }, (openErr, zip) => {
      if (openErr !== null) return fail(/end of central directory/i.test(openErr.message) ? new ArchiveError('not a zip archive (no end of central directory)') : openErr);
      let failed = false;
      const stop = (err: unknown): void => {
        if (failed) return;
        failed = true;
        zip.close();
        fail(err);
      };
      zip.on('error', stop);
      zip.on('end', () => (failed ? undefined : resolve()));
      zip.on('entry', (raw: yauzl.Entry) => {
        visitEntry(zip, raw, visit).then(() => (failed ? undefined : zip.readEntry()), stop);
      });
      zip.readEntry();
    });
  });
}

async function visitEntry(zip: yauzl.ZipFile, raw: yauzl.Entry, visit: EntryVisitor): Promise<void> {
  const path = raw.fileName;
  if (raw.isEncrypted()) throw new ArchiveError(`encrypted zip entry ${JSON.stringify(path)} is not supported`);
  // Unix "made by" (3) keeps st_mode in the high 16 bits.
  const unixMode = raw.versionMadeBy >> 8 === 3 ? raw.externalFileAttributes >>> 16 : 0;
  const withMode = unixMode === 0 ? {} : { mode: unixMode & 0o7777 };
  if (path.endsWith('/') || (unixMode & S_IFMT) === S_IFDIR) return visit({ path, type: 'dir', ...withMode }, undefined);
  if (raw.compressionMethod !== 0 && raw.compressionMethod !== 8) {
    throw new ArchiveError(`zip entry ${JSON.stringify(path)} uses unsupported compression method ${raw.compressionMethod}`);
  }
  if ((unixMode & S_IFMT) === S_IFLNK) {
    if (raw.uncompressedSize > MAX_LINK_BYTES) throw new ArchiveError(`symlink ${JSON.stringify(path)} has a target longer than ${MAX_LINK_BYTES} bytes`);
    const chunks: Buffer[] = [];
    for await (const chunk of await zip.openReadStreamPromise(raw)) chunks.push(chunk as Buffer);
    return visit({ path, type: 'symlink', linkTarget: Buffer.concat(chunks).toString('utf8'), ...withMode }, undefined);
  }
  const entry: ArchiveEntry = { path, type: 'file', size: raw.uncompressedSize, ...withMode };
  // The body is opened only when the visitor reads it: listing a zip inflates nothing.
  let opened: Promise<AsyncIterable<Uint8Array>> | undefined;
  const body: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => {
      let iterator: AsyncIterator<Uint8Array> | undefined;
      return {
        next: async () => {
          opened ??= zip.openReadStreamPromise(raw);
          iterator ??= (await opened)[Symbol.asyncIterator]();
          return iterator.next();
        },
        return: async () => (iterator?.return === undefined ? { done: true as const, value: undefined } : iterator.return()),
      };
    },
  };
  try {
    await visit(entry, body);
  } catch (err) {
    // A stream opened and left: yauzl would otherwise keep the file open.
    void opened?.then(
      (s) => (s as unknown as { destroy(): void }).destroy(),
      () => undefined,
    );
    throw err;
  }
}
