/** What the tar and zip readers produce, and the error they (and extraction) throw. */

export interface ArchiveEntry {
  /** As written in the archive, '/'-separated; not yet checked. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink';
  /** Permission bits; undefined when the archive does not say (zip from non-Unix tools). */
  mode?: number;
  /** File contents. */
  data?: Buffer;
  /** Symlink: the link text. Hardlink: the archive path of the file it links to. */
  linkTarget?: string;
}

/** A refused or unreadable archive; the message says which entry and why. */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
}
