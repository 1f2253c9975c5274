/**
 * The VIP process of one agent: follows the master's operator SUBSCRIBE stream (task-view.ts),
 * computes the VIP table (table.ts) and programs this host's kernel (kernel-vips.ts). Events are
 * coalesced: while one nft transaction runs, later changes wait and go in the next one together.
 * Nothing is programmed before the first full state (SUBSCRIBED) — a restart never empties the
 * VIPs it finds — and a lost stream keeps the last table until the new stream's state replaces it.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { backoffDelay } from '../../clock/backoff.ts';
import { fetchFollowing } from '../../http/follow-redirects.ts';
import type { Logger } from '../../log/index.ts';
import { decodeJsonRecords } from '../../protocol/recordio.ts';
import { KernelVips } from './kernel-vips.ts';
import { vipTableName } from './nft-script.ts';
import { parseVipRange, type VipRange, type VipTable, vipTable } from './table.ts';
import { VipTaskView } from './task-view.ts';

export interface VipServiceOptions {
  /** Master URLs (several for HA); tried in turn. */
  masters: readonly string[];
  /** Headers for the operator API (a credential with `dcos:adminrouter:ops:mesos` read). */
  headers: () => Record<string, string>;
  /** How the stream is requested; over HTTPS, a fetch trusting the cluster CA (the agent's `--master-ca`). Default `fetch`. */
  fetch?: typeof fetch;
  /** CIDR named VIPs are allocated from (default 11.0.0.0/8, as DC/OS). */
  range?: string;
  /** Suffix of the nftables table name (`drover<suffix>`): tests and several agents on one host. */
  tableSuffix?: string;
  /** Program this network namespace instead of the process' own (tests). */
  netns?: string;
  /** Leave the table in place on stop (flows through VIPs keep working across a restart). */
  keepOnStop?: boolean;
  logger: Logger;
}

export class VipService {
  private readonly view = new VipTaskView();
  private readonly kernel: KernelVips;
  private readonly range: VipRange;
  private readonly agentIps = new Map<string, string>();
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private applying: Promise<void> | undefined;
  private dirty = false;
  private current: VipTable = { entries: [], problems: [] };

  constructor(private readonly options: VipServiceOptions) {
    const range = parseVipRange(options.range ?? '11.0.0.0/8');
    if (typeof range === 'string') throw new Error(range);
    this.range = range;
    this.kernel = new KernelVips({ table: vipTableName(options.tableSuffix ?? ''), ...(options.netns === undefined ? {} : { netns: options.netns }) });
  }

  /** The last table programmed (e.g. for the VIP names' addresses). */
  get table(): VipTable {
    return this.current;
  }

  async start(): Promise<void> {
    await this.kernel.start();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.controller?.abort();
    await this.loop?.catch(() => undefined);
    await this.applying?.catch(() => undefined);
    if (!this.options.keepOnStop) await this.kernel.cleanup().catch((err: unknown) => this.options.logger.warn({ err: String(err) }, 'vip-cleanup-failed'));
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let next = 0;
    while (!this.stopped) {
      const master = this.options.masters[next++ % this.options.masters.length]!;
      try {
        await this.follow(master, () => {
          attempt = 0;
        });
      } catch (err) {
        if (this.stopped) return;
        this.options.logger.warn({ master, err: String(err) }, 'vip-stream-lost');
      }
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, backoffDelay({ initialMs: 200, maxMs: 10_000, jitter: 0.5 }, ++attempt)));
    }
  }

  private async follow(master: string, onSubscribed: () => void): Promise<void> {
    this.controller = new AbortController();
    const response = await fetchFollowing(
      new URL('/api/v1', master),
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/recordio', ...this.options.headers() },
        body: JSON.stringify({ type: 'SUBSCRIBE' }),
        signal: this.controller.signal,
      },
      this.options.fetch,
    );
    if (response.status !== 200 || response.body === null) throw new Error(`master answered SUBSCRIBE with ${response.status}: ${(await response.text().catch(() => '')).slice(0, 300)}`);
    // The master sends HEARTBEAT every interval: a stream silent for three of them is presumed
    // dead (a partition leaves the socket open) and is replaced.
    const controller = this.controller;
    let lastEventAt = Date.now();
    let silenceMs = 3 * 15_000;
    const watchdog = setInterval(() => {
      if (Date.now() - lastEventAt > silenceMs) controller.abort(new Error(`no event from the master for ${silenceMs} ms`));
    }, 1000);
    watchdog.unref();
    try {
      for await (const event of decodeJsonRecords<unknown>(response.body)) {
        lastEventAt = Date.now();
        const e = event as { type?: unknown; subscribed?: { heartbeat_interval_seconds?: unknown } };
        if (e.type === 'SUBSCRIBED') {
          onSubscribed();
          const seconds = e.subscribed?.heartbeat_interval_seconds;
          if (typeof seconds === 'number' && seconds > 0) silenceMs = Math.max(3000, 3 * seconds * 1000);
        }
        if (this.view.apply(event) && this.view.synced) this.schedule();
      }
    } finally {
      clearInterval(watchdog);
    }
    throw new Error('the operator stream ended');
  }

  /** One nft transaction at a time; changes that arrive meanwhile go into the next one. */
  private schedule(): void {
    this.dirty = true;
    if (this.applying !== undefined) return;
    this.applying = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        await this.applyOnce().catch((err: unknown) => this.options.logger.error({ err: String(err) }, 'vip-apply-failed'));
      }
    })().finally(() => {
      this.applying = undefined;
    });
  }

  private async applyOnce(): Promise<void> {
    await this.resolveAgents();
    const table = vipTable(this.view.tasks(this.agentIps), this.range);
    for (const p of table.problems.slice(0, 20)) this.options.logger.warn(p, 'vip-label-refused');
    await this.kernel.apply(table.entries);
    this.current = table;
    this.options.logger.info({ vips: table.entries.length, backends: table.entries.reduce((n, e) => n + e.backends.length, 0) }, 'vips-programmed');
  }

  /** Agents register by hostname; nft needs addresses. Each hostname is looked up once. */
  private async resolveAgents(): Promise<void> {
    const missing = this.view.hostnames().filter((h) => !this.agentIps.has(h));
    await Promise.all(
      missing.map(async (hostname) => {
        if (isIP(hostname) === 4) return void this.agentIps.set(hostname, hostname);
        try {
          const { address } = await lookup(hostname, { family: 4 });
          this.agentIps.set(hostname, address);
        } catch (err) {
          this.options.logger.warn({ hostname, err: String(err) }, 'vip-agent-unresolved');
        }
      }),
    );
  }
}
