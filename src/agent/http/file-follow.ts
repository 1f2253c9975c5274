/**
 * `tail -F` for one sandbox file, as a byte stream: what `GET /files/follow` sends.
 *
 * A follower starts at `offset` (the current end when none is given) and sends whatever is
 * appended, until it is stopped (client gone, agent closing) or its timeout passes. It wakes on
 * fs.watch events and, because fs.watch misses changes on some filesystems (overlay, NFS) and
 * after a rename, also on a periodic poll. A file that shrinks (truncated) or is replaced by a new
 * one (rotated: a different inode at the same path) is read again from its start, as `tail -F`.
 *
 * `path` must be a real path already checked to be inside the work dir. The task owns its sandbox
 * and can swap the file (or a folder above it) for a symlink at any time, so every reopen opens
 * with O_NOFOLLOW and then checks that what was opened is that path (`/proc/self/fd`, never a
 * check before the open: confined-open.ts); otherwise it waits as if the file were gone. Nothing is
 * ever read through a link.
 */
import { watch, type FSWatcher } from 'node:fs';
import { constants } from 'node:fs';
import { open, readlink, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** One read per wake-up at most; the pump loops until caught up or the client is slow. */
const CHUNK_BYTES = 64 * 1024;

export interface FollowOptions {
  /** Byte offset to start from; undefined starts at the current end. */
  offset: number | undefined;
  /** Stop after this long; undefined follows until stopped. */
  timeoutMs: number | undefined;
  /** The poll fallback period. */
  pollMs?: number;
}

export class FileFollower {
  readonly stream: Readable;
  private position = -1;
  private inode = -1;
  private stopped = false;
  private pumping: Promise<void> | undefined;
  private again = false;
  /** Set when the client's buffer is full; cleared when the stream asks for more. */
  private paused = false;
  private watcher: FSWatcher | undefined;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly path: string,
    private readonly options: FollowOptions,
  ) {
    this.stream = new Readable({
      read: () => {
        if (this.paused) {
          this.paused = false;
          this.wake();
        }
      },
      destroy: (error, callback) => {
        this.stop();
        callback(error);
      },
    });
  }

  /** Takes the starting position from the file as it is now, then begins watching. */
  async start(): Promise<void> {
    const stats = await stat(this.path);
    this.inode = stats.ino;
    // An offset past the end starts at the end: there is nothing to send before it anyway.
    this.position = this.options.offset === undefined ? stats.size : Math.min(this.options.offset, stats.size);
    try {
      this.watcher = watch(this.path, () => this.wake());
      this.watcher.on('error', () => undefined); // the poll carries on without it
    } catch {
      // Watching is an optimisation; the poll below is the guarantee.
    }
    this.timers.push(setInterval(() => this.wake(), this.options.pollMs ?? 250));
    if (this.options.timeoutMs !== undefined) this.timers.push(setTimeout(() => this.finish(), this.options.timeoutMs));
    this.wake();
  }

  /** Ends the stream cleanly after a last catch-up read. */
  finish(): void {
    if (this.stopped) return;
    this.stop();
    // The pump in flight finishes first: nothing may be pushed after the end.
    void (this.pumping ?? Promise.resolve())
      .then(() => this.catchUp())
      .catch(() => undefined)
      .finally(() => this.stream.push(null));
  }

  /** Releases the watcher and timers; idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    for (const timer of this.timers) clearTimeout(timer);
  }

  private wake(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.pump();
    void this.pumping.catch((error: unknown) => {
      this.stop();
      this.stream.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.catchUp();
      } while (this.again && !this.stopped);
    } finally {
      this.pumping = undefined;
    }
  }

  private async catchUp(): Promise<void> {
    if (this.paused || this.stream.destroyed) return;
    let handle;
    try {
      handle = await open(this.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return; // rotated away and not yet recreated (or a link): wait for the next wake-up
    }
    // Opened through a folder swapped for a link: not our file, treat it as gone.
    if ((await readlink(`/proc/self/fd/${handle.fd}`).catch(() => '')) !== this.path) {
      await handle.close();
      return;
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) return;
      if (stats.ino !== this.inode || stats.size < this.position) {
        this.inode = stats.ino;
        this.position = 0;
      }
      if (stats.size <= this.position) return;
      while (!this.stream.destroyed && !this.paused) {
        const buffer = Buffer.alloc(CHUNK_BYTES);
        const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, this.position);
        if (bytesRead === 0) break;
        this.position += bytesRead;
        if (!this.stream.push(buffer.subarray(0, bytesRead))) this.paused = true;
      }
    } finally {
      await handle.close();
    }
  }
}
