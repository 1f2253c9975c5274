/**
 * Group fsync of the write-ahead log: SQLite commits with synchronous=NORMAL (frames written to
 * the WAL, no fsync), and this fsyncs the WAL through its own descriptor, off the main thread
 * (`fs.fsync` runs in libuv's pool). Every commit made before an fsync starts is durable when it
 * returns, so all the transactions committed while one fsync runs share the next one — group
 * commit across transactions, not only within a batch — and the master's thread never waits in
 * fsync for a commit. The engine acknowledges a write, publishes its watch events and answers a
 * read only after `whenDurable()`, so nothing not yet durable is ever seen.
 *
 * Why fsyncing our own descriptor is enough: on Linux fsync flushes the file (its dirty pages
 * and size), whichever descriptor names it. SQLite in exclusive locking mode keeps the same WAL
 * file for the connection's life (it deletes it only at close); a checkpoint fsyncs the WAL and
 * the database itself before it lets a later commit overwrite the WAL from its start.
 *
 * An fsync error stops the store: after a failed fsync the kernel may have dropped the dirty
 * pages, so a later fsync that succeeds proves nothing (PostgreSQL's "fsyncgate").
 */
import { closeSync, constants, fsync, fsyncSync, openSync } from 'node:fs';
import { DroverError } from '../../errors/errors.ts';

interface Waiter {
  commit: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class WalSync {
  private fd: number | undefined;
  /** Commits counted so far, and the count the last finished fsync covered. */
  private committed = 0;
  private durable = 0;
  /** Revision of the last commit counted, and of the last one made durable. */
  private committedRevision = 0;
  private running = false;
  private readonly waiters: Waiter[] = [];
  private failed: DroverError | undefined;

  constructor(
    private readonly walPath: string,
    /** Called with the highest revision each finished fsync made durable. */
    private readonly onDurable: (revision: number) => void,
  ) {
    // SQLite has created it by now (a WAL database opens its WAL); O_CREAT only guards the edge.
    this.fd = openSync(walPath, constants.O_RDONLY | constants.O_CREAT, 0o600);
  }

  /** The failure that stopped the store, if any. */
  get failure(): DroverError | undefined {
    return this.failed;
  }

  /** A transaction committed (to the page cache) at `revision`. */
  committedAt(revision: number): void {
    this.committed += 1;
    this.committedRevision = revision;
  }

  /** Resolves once every commit counted so far is on disk. */
  whenDurable(): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.durable >= this.committed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ commit: this.committed, resolve, reject });
      this.start();
    });
  }

  /** Synchronously makes everything durable (at open, before the sidecars; at close). */
  syncNow(): void {
    if (this.fd === undefined || this.failed !== undefined) return;
    fsyncSync(this.fd);
    this.finished(this.committed, this.committedRevision);
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      this.syncNow();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private start(): void {
    if (this.running || this.waiters.length === 0 || this.fd === undefined) return;
    this.running = true;
    // Everything counted before the fsync starts is covered by it; later commits wait for the next.
    const [commit, revision] = [this.committed, this.committedRevision];
    fsync(this.fd, (error) => {
      this.running = false;
      if (error !== null) {
        this.failed = new DroverError('STORE_UNAVAILABLE', `fsync of ${this.walPath} failed (${error.message}); the store stops: writes since the last good fsync may not be on disk`, {
          cause: error,
        });
        for (const waiter of this.waiters.splice(0)) waiter.reject(this.failed);
        return;
      }
      this.finished(commit, revision);
      this.start();
    });
  }

  private finished(commit: number, revision: number): void {
    if (commit <= this.durable) return;
    this.durable = commit;
    this.onDurable(revision);
    // In commit order, so the engine publishes watch events in revision order.
    while (this.waiters.length > 0 && (this.waiters[0] as Waiter).commit <= commit) (this.waiters.shift() as Waiter).resolve();
  }
}
