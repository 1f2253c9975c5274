/**
 * The revision mark: `<path>.rev`, the highest revision this store has committed, rewritten in
 * place after every commit. At open, a database whose revision is below the mark has lost
 * commits it had acknowledged — SQLite stops replaying its write-ahead log at the first frame
 * with a bad checksum and ignores everything after it, and a truncated or deleted `-wal` just
 * ends early, so either way SQLite opens the older state without a word. The mark turns that
 * into a refusal.
 *
 * Why it is cheap and never a false alarm: the mark is written only after SQLite's commit has
 * returned, and with synchronous=FULL that commit is already fsynced. So the mark can never be
 * ahead of what is durable in the database, whether or not the mark itself reached the disk
 * (it is not fsynced per commit: one pwrite of 40 bytes, a few microseconds). A power loss can
 * only leave the mark behind, which weakens detection for the last seconds, never causes a
 * refusal. Everything short of a power loss (a deleted, truncated or corrupted WAL, a restore of
 * an older copy of the database) sees the mark's latest value from the page cache.
 *
 * Record: `drover-rev <cluster id> <16 digits> <16 digits>\n`, the revision twice, so a torn
 * or garbled record reads as "no mark" instead of a wrong number. The cluster id ties the mark to
 * one cluster: after a deliberate start-over (the `.id` sidecar deleted) the old cluster's mark
 * no longer applies.
 */
import { closeSync, constants, fchmodSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';

const WIDTH = 16;

export interface Mark {
  clusterId: string;
  revision: number;
}

function encode(clusterId: string, revision: number): Buffer {
  const digits = String(revision).padStart(WIDTH, '0');
  return Buffer.from(`drover-rev ${clusterId} ${digits} ${digits}\n`, 'ascii');
}

/** The recorded mark, or undefined if there is no readable one. */
export function readRevisionMark(path: string): Mark | undefined {
  let text: string;
  try {
    text = readFileSync(`${path}.rev`, 'ascii');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const match = /^drover-rev ([0-9a-f]{32}) (\d{16}) (\d{16})\n/.exec(text);
  if (match === null || match[2] !== match[3]) return undefined;
  const revision = Number(match[2]);
  return Number.isSafeInteger(revision) ? { clusterId: match[1] as string, revision } : undefined;
}

export class RevisionMark {
  private fd: number | undefined;
  private recorded = 0;

  constructor(
    private readonly path: string,
    private readonly clusterId: string,
  ) {
    // Not truncated: until the first record the old mark stays readable (fixed width, offset 0).
    this.fd = openSync(`${path}.rev`, constants.O_RDWR | constants.O_CREAT, 0o600);
    fchmodSync(this.fd, 0o600); // an existing file keeps its old mode through open()
  }

  /** After a commit returned: the database now durably holds `revision`. */
  record(revision: number): void {
    if (this.fd === undefined || revision <= this.recorded) return;
    try {
      // Fixed width, offset 0: one small overwrite of the same bytes, never a growing file.
      const record = encode(this.clusterId, revision);
      writeSync(this.fd, record, 0, record.length, 0);
      this.recorded = revision;
    } catch {
      // The commit itself succeeded; failing it now would report a durable write as lost. An
      // unwritten mark only stays behind, which the next open accepts (never a false refusal).
      this.close();
    }
  }

  /** Makes the mark durable (at close: the next open then checks against the very last commit). */
  sync(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } finally {
      this.fd = undefined;
    }
  }

  get file(): string {
    return `${this.path}.rev`;
  }
}
