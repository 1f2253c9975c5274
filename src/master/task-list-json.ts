/**
 * The task lists of `/master/state`, `/master/frameworks` and `/master/tasks` kept encoded, so
 * that at 50,000 tasks a request joins a few hundred blocks of bytes instead of building and
 * stringifying 50,000 object trees (issue 21, docs/architecture/022-master-state-json.md).
 *
 * A list is kept in blocks of `BLOCK` tasks in list order, each block the bytes of its tasks'
 * `taskToJson` (views.ts) and what they were made from. A block is used again only when each of
 * its places holds the same record with the same fields the JSON is made of; else it is made again.
 *
 * When a block is stale: the master changes a task record only by assigning its fields — `state`,
 * `statuses` (a new array per status: master.ts applyStatus), `directory` (agent-calls.ts) — and
 * never `info` or `resources` in place (interned, shared). Each is compared by identity (`===`):
 * no version counter to forget to bump. A task that ends, or is replaced, changes which record is
 * at a place, and so the blocks from there on.
 *
 * Memory: one copy of a list's JSON per list read unfiltered (about the size of its answer),
 * outside the V8 heap; a list not read for `SWEEP_AFTER` reads of others is dropped.
 */
import { EncodedArray } from '../protocol/encoded-items.ts';
import type { TaskRecord } from './model.ts';
import { taskToJson } from './views.ts';

/** Tasks per block: ≈ 150 KB of JSON, few pieces to copy per answer, little to re-make per change. */
export const BLOCK = 256;

interface Made {
  task: TaskRecord;
  state: TaskRecord['state'];
  statuses: TaskRecord['statuses'];
  directory: TaskRecord['directory'];
  agentId: string;
  info: TaskRecord['info'];
  resources: TaskRecord['resources'];
  role: string;
}

interface Block {
  made: Made[];
  bytes: Buffer;
}

const unchanged = (m: Made, t: TaskRecord): boolean =>
  m.task === t && m.state === t.state && m.statuses === t.statuses && m.directory === t.directory && m.agentId === t.agentId && m.info === t.info && m.resources === t.resources && m.role === t.role;

/** One list's blocks. */
export class TaskListJson {
  private blocks: Block[] = [];
  /** Blocks made (not reused) so far: tests and the bench read it. */
  made = 0;

  /**
   * `tasks` as an encoded array of their `taskToJson`; `reversed`: in the opposite order. Blocks
   * are cut from the start of `tasks` either way, so a task added at its end (the newest) re-makes
   * one block, not every block of a newest-first list.
   */
  of(tasks: readonly TaskRecord[], reversed = false): EncodedArray {
    const next: Block[] = [];
    for (let start = 0, b = 0; start < tasks.length; start += BLOCK, b++) {
      const end = Math.min(tasks.length, start + BLOCK);
      const old = this.blocks[b];
      let same = old !== undefined && old.made.length === end - start;
      for (let i = start; same && i < end; i++) same = unchanged(old!.made[i - start]!, tasks[i]!);
      next.push(same ? old! : this.block(tasks, start, end, reversed));
    }
    this.blocks = next;
    return new EncodedArray((reversed ? [...next].reverse() : next).map((b) => b.bytes));
  }

  private block(tasks: readonly TaskRecord[], start: number, end: number, reversed: boolean): Block {
    this.made++;
    const made: Made[] = [];
    const json: unknown[] = [];
    for (let k = start; k < end; k++) json.push(taskToJson(tasks[reversed ? end - 1 - (k - start) : k]!));
    for (let i = start; i < end; i++) {
      const t = tasks[i]!;
      made.push({ task: t, state: t.state, statuses: t.statuses, directory: t.directory, agentId: t.agentId, info: t.info, resources: t.resources, role: t.role });
    }
    // One native stringify of the block's array, `[a,b,…]`, made `,a,b,…` in place: 256 strings
    // concatenated into a rope and then flattened cost the first request at 50,000 tasks twice
    // as much (its profile).
    const array = Buffer.from(JSON.stringify(json), 'utf8');
    array[0] = 0x2c; // ','
    return { made, bytes: array.subarray(0, array.length - 1) };
  }
}

/** Reads of other lists after which a list not read is dropped. */
const SWEEP_AFTER = 1000;

/** The kept lists by name (a framework's live tasks, its completed tasks, every task, …). */
export class TaskListCache {
  private readonly lists = new Map<string, { list: TaskListJson; reversed: boolean; read: number }>();
  private reads = 0;
  private blocksMade = 0;

  of(name: string, tasks: readonly TaskRecord[], reversed = false): EncodedArray {
    this.reads++;
    let entry = this.lists.get(name);
    // A list read the other way round is another list (its blocks hold the other order).
    if (entry === undefined || entry.reversed !== reversed) this.lists.set(name, (entry = { list: new TaskListJson(), reversed, read: 0 }));
    entry.read = this.reads;
    if (this.reads % 100 === 0) for (const [key, e] of this.lists) if (this.reads - e.read > SWEEP_AFTER) this.lists.delete(key);
    const before = entry.list.made;
    const encoded = entry.list.of(tasks, reversed);
    this.blocksMade += entry.list.made - before;
    return encoded;
  }

  /** Blocks made by every list so far. */
  get made(): number {
    return this.blocksMade;
  }
}
