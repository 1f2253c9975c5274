/**
 * The DNS server in its own thread. In the master's thread a query waited behind whatever the
 * master was doing (a burst of 1,000 status updates held answers for half a second); in a worker
 * thread it is answered at once, from a replica of the zone.
 *
 * The replica: the whole zone when the thread starts, then every change the zone makes
 * (`Zone.onChange`), posted as it is made: the thread has it while the master is still in the
 * middle of the batch of updates that caused it. (Gathered per turn into one message, the
 * changes of a burst waited for the end of the master's turn: names answered negatively for a
 * second while queries were answered in milliseconds.) Messages between two threads arrive in
 * order, so the replica is always a state the zone was in.
 *
 * The changes go over a channel of their own, which the thread also reads synchronously
 * (`receiveMessageOnPort`) before it answers each query: a query that reaches the thread after
 * a change was posted sees the change, even when the thread's event loop took the query's
 * socket before the message (on a loaded machine it did: the first query for a new name got a
 * negative answer and cost the client a second round trip).
 *
 * The thread asks the kernel for a higher priority (nice -10, where allowed: root or
 * CAP_SYS_NICE): it does little work, but does it while the master's threads use every CPU, and
 * on a loaded machine a query otherwise waited for the thread's turn. `recovered()` (no NXDOMAIN before a restarted master's agents
 * are back) is posted with each batch and checked every 250 ms until it holds.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { Logger } from '../log/index.ts';
import type { DnsCounters, DnsServerOptions } from './dns-server.ts';
import type { ZoneRecord } from './records.ts';

/**
 * The thread's code: the bundle's dns-thread.mjs when bin/drover.js started this process from
 * dist/ (it sets `droverBundle`; 026-bundle.md), else dns-thread-boot.mjs, which loads the
 * TypeScript body through tsx.
 */
const BUNDLE = (globalThis as { droverBundle?: string }).droverBundle;
const THREAD_ENTRY = BUNDLE === undefined ? new URL('./dns-thread-boot.mjs', import.meta.url) : new URL('dns-thread.mjs', BUNDLE);
/**
 * A thread's stack traces name the .ts sources only with source maps on in the thread itself.
 * Only where node has no flags of its own: a thread inherits those, but refuses some when given
 * explicitly (--max-old-space-size), and then keeps the bundle's lines.
 */
const THREAD_NODE_ARGS = BUNDLE !== undefined && process.execArgv.length === 0 ? { execArgv: ['--enable-source-maps'] } : {};

/** On the zone channel (the thread may read it synchronously, before a query: see the file comment). */
export type ZoneMessage = { type: 'zone'; changes: Array<[string, readonly ZoneRecord[]]>; recovered?: boolean };

export type ToDnsThread = { type: 'counters'; id: number } | { type: 'close' };

export type FromDnsThread =
  | { type: 'listening'; port: number }
  | { type: 'failed'; error: string; code: string }
  | { type: 'warn'; msg: string; error: string }
  | { type: 'counters'; id: number; counters: DnsCounters; loopDelayP99Ms: number; loopDelayMaxMs: number; cpuMs: number }
  | { type: 'closed' };

/** With the thread's event loop delay (p99, max) and its CPU time (user + system, 10 ms steps; NaN where unknown) since it started. */
export type DnsThreadCounters = DnsCounters & { loopDelayP99Ms: number; loopDelayMaxMs: number; cpuMs: number };

export type DnsThreadOptions = Omit<DnsServerOptions, 'logger'>;

/** A DNS server (dns-server.ts) answering from a replica of `options.zone` in a worker thread. */
export class DnsThread {
  private worker: Worker | undefined;
  /** The zone channel's end in this thread. */
  private zonePort: MessagePort | undefined;
  private boundPort = 0;
  private lastRecovered = false;
  /** Zone changes posted to the thread (the bench reports it). */
  changesPosted = 0;
  private recoveryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (c: DnsThreadCounters) => void>();

  constructor(
    private readonly options: DnsThreadOptions,
    private readonly logger?: Logger,
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async listen(): Promise<void> {
    const { zone, recovered, ...plain } = this.options;
    const channel = new MessageChannel();
    const worker = new Worker(THREAD_ENTRY, { ...THREAD_NODE_ARGS, workerData: { ...plain, zonePort: channel.port2 }, transferList: [channel.port2] });
    this.worker = worker;
    this.zonePort = channel.port1;
    // The zone as it is now, then every change in order.
    this.lastRecovered = recovered();
    channel.port1.postMessage({ type: 'zone', changes: zone.entries(), recovered: this.lastRecovered } satisfies ZoneMessage);
    this.unsubscribe = zone.onChange((source, records) => this.changed(source, records));
    if (!this.lastRecovered) {
      this.recoveryTimer = setInterval(() => this.checkRecovered(), 250);
      this.recoveryTimer.unref();
    }
    worker.on('message', (m: FromDnsThread) => {
      if (m.type === 'warn') this.logger?.warn({ err: m.error }, m.msg);
      else if (m.type === 'counters') {
        this.waiting.get(m.id)?.({ ...m.counters, loopDelayP99Ms: m.loopDelayP99Ms, loopDelayMaxMs: m.loopDelayMaxMs, cpuMs: m.cpuMs });
        this.waiting.delete(m.id);
      }
    });
    worker.on('error', (err) => this.logger?.error({ err }, 'dns-thread-failed'));
    try {
      this.boundPort = await new Promise<number>((resolve, reject) => {
        const onMessage = (m: FromDnsThread): void => {
          if (m.type === 'listening') resolve(m.port);
          else if (m.type === 'failed') reject(Object.assign(new Error(m.error), { code: m.code }));
          else return;
          worker.off('message', onMessage);
          worker.off('exit', onExit);
        };
        const onExit = (code: number): void => reject(new Error(`the DNS thread exited (${code}) before listening`));
        worker.on('message', onMessage);
        worker.once('exit', onExit);
      });
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** The thread's counters (queries, answered, NXDOMAIN, …) and its event loop's delay since it started. */
  counters(): Promise<DnsThreadCounters> {
    const worker = this.worker;
    if (!worker) return Promise.resolve({ queries: 0, answered: 0, cached: 0, nxdomain: 0, servfail: 0, forwarded: 0, malformed: 0, loopDelayP99Ms: 0, loopDelayMaxMs: 0, cpuMs: 0 });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      worker.postMessage({ type: 'counters', id } satisfies ToDnsThread);
    });
  }

  private changed(source: string, records: readonly ZoneRecord[]): void {
    this.changesPosted++;
    const recovered = this.lastRecovered || this.options.recovered();
    const message: ZoneMessage = { type: 'zone', changes: [[source, records]], ...(recovered !== this.lastRecovered ? { recovered } : {}) };
    this.lastRecovered = recovered;
    this.zonePort?.postMessage(message);
  }

  private checkRecovered(): void {
    if (this.lastRecovered || !this.options.recovered()) return;
    clearInterval(this.recoveryTimer);
    this.recoveryTimer = undefined;
    this.lastRecovered = true;
    this.zonePort?.postMessage({ type: 'zone', changes: [], recovered: true } satisfies ZoneMessage);
  }

  async close(): Promise<void> {
    await this.stop();
  }

  private async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearInterval(this.recoveryTimer);
    const worker = this.worker;
    this.worker = undefined;
    this.zonePort?.close();
    this.zonePort = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' } satisfies ToDnsThread);
    // A thread that does not close its sockets in 5 s is ended.
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}
