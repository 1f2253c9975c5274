/**
 * Crash-safe JSON files. A checkpoint is written to a temp file in the same directory, fsynced,
 * then renamed over the old one, so a reader (the agent after a crash) sees either the old or the
 * new content, never a torn mix.
 *
 * Writes to one path are serialised and coalesced: if several values are written while one write
 * is in flight, only the latest is written next (the earlier ones are superseded), and every
 * caller's promise resolves once a value at least as new as its own is on disk. Without this, two
 * overlapping writes could rename in the wrong order and leave a stale checkpoint behind.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

interface PathState {
  /** The newest value not yet handed to a write; durable if any coalesced write asked for it. */
  next?: { json: string; durable: boolean; waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> };
  running?: Promise<void>;
}

export class AtomicJsonWriter {
  private readonly paths = new Map<string, PathState>();
  private readonly knownDirs = new Set<string>();
  private sequence = 0;

  /**
   * `durable` false skips the fsync: the rename still makes the file old-or-new after a crash of
   * the agent (the page cache survives it); only a machine crash may bring back the old content.
   */
  write(path: string, value: unknown, options: { durable?: boolean } = {}): Promise<void> {
    const durable = options.durable !== false;
    const json = `${JSON.stringify(value, null, 1)}\n`;
    let state = this.paths.get(path);
    if (state === undefined) {
      state = {};
      this.paths.set(path, state);
    }
    const promise = new Promise<void>((resolve, reject) => {
      const next = state.next ?? { json, durable, waiters: [] };
      next.json = json;
      next.durable ||= durable;
      next.waiters.push({ resolve, reject });
      state.next = next;
    });
    if (state.running === undefined) state.running = this.drain(path, state);
    return promise;
  }

  /** Removes a directory once every pending write under it has landed. */
  async removeDir(dir: string): Promise<void> {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    const pending = [...this.paths].filter(([p]) => p.startsWith(prefix)).map(([, s]) => s.running);
    await Promise.allSettled(pending);
    for (const known of [...this.knownDirs]) if (known === dir || known.startsWith(prefix)) this.knownDirs.delete(known);
    await rm(dir, { recursive: true, force: true });
  }

  /** Resolves when every write started so far has finished. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.paths.values()].map((s) => s.running));
  }

  private async drain(path: string, state: PathState): Promise<void> {
    while (state.next !== undefined) {
      const { json, durable, waiters } = state.next;
      state.next = undefined;
      try {
        await this.writeOnce(path, json, durable);
        for (const w of waiters) w.resolve();
      } catch (e) {
        for (const w of waiters) w.reject(e);
      }
    }
    state.running = undefined;
    this.paths.delete(path);
  }

  private async writeOnce(path: string, json: string, durable: boolean): Promise<void> {
    const dir = dirname(path);
    if (!this.knownDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.knownDirs.add(dir);
    }
    const temp = `${path}.tmp-${process.pid}-${++this.sequence}`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(json, 'utf8');
      // Without fsync a machine crash after the rename can leave an empty file in its place.
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, path);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
  }
}

/** Reads a JSON file; `undefined` when it does not exist. Throws on unreadable or invalid JSON. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as unknown;
}
