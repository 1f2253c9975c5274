/** What the tar and zip readers produce, and the error they (and extraction) throw. */
export interface ArchiveEntry {
  /** As written in the archive, '/'-separated; not yet checked. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink';
  /** Permission bits; undefined when the archive does not say (zip from non-Unix tools). */
  mode?: number;
  /** File: its size as the archive declares it. Bodies are streamed, never held whole. */
  size?: number;
  /** Symlink: the link text. Hardlink: the archive path of the file it links to. */
  linkTarget?: string;
}

/**
 * Called once per entry, in archive order; the next entry is read only once it settles. `body`
 * is the file's bytes (files only); leaving it unread skips it. Throwing stops the reading.
 */
export type EntryVisitor = (entry: ArchiveEntry, body: AsyncIterable<Uint8Array> | undefined) => Promise<void>;

/** A refused or unreadable archive; the message says which entry and why. */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
}
