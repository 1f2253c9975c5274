/**
 * The shell around nft-script.ts: runs `nft -f -` (optionally inside a network namespace, via
 * `ip netns exec`, for tests) and remembers which VIP chains it programmed, so the next update
 * deletes the gone ones in the same transaction. At start it reads the chains a previous run
 * left (`nft -j list table`), so a restarted VIP process neither leaks them nor breaks flows.
 */
import { spawn } from 'node:child_process';
import { DroverError } from '../../errors/errors.ts';
import { vipChainName, vipCleanupScript, vipScript } from './nft-script.ts';
import type { VipEntry } from './table.ts';

export interface KernelVipsOptions {
  /** nftables table name (`vipTableName()`). */
  table: string;
  /** Program this network namespace (`ip netns exec NAME`) instead of the process' own. */
  netns?: string;
  /** The nft binary (default `nft` on PATH). */
  nft?: string;
}

const MAX_OUTPUT = 64 * 1024;

/** nft (or `ip`) could not be started at all. */
export class NftUnavailable extends DroverError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG', message, options);
  }
}

export class KernelVips {
  private programmed = new Set<string>();
  private started = false;

  constructor(private readonly options: KernelVipsOptions) {
    if (options.netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(options.netns)) throw new Error(`netns name ${JSON.stringify(options.netns.slice(0, 70))} is not a plain name`);
  }

  /** Reads what a previous run left in the table (nothing if there is no table). */
  async start(): Promise<void> {
    // No table yet is normal; no nft binary (or no permission to run it) is not: say so at start.
    const listed = await this.nft(['-j', 'list', 'table', 'ip', this.options.table], '').catch((err: unknown) => {
      if (err instanceof NftUnavailable) throw err;
      return undefined;
    });
    if (listed !== undefined) {
      const parsed = JSON.parse(listed) as { nftables?: Array<{ chain?: { name?: unknown } }> };
      for (const item of parsed.nftables ?? []) {
        const name = item.chain?.name;
        if (typeof name === 'string' && name.startsWith('v-')) this.programmed.add(name);
      }
    }
    this.started = true;
  }

  /** Makes the kernel's VIPs exactly `entries`, in one transaction. */
  async apply(entries: readonly VipEntry[]): Promise<void> {
    if (!this.started) await this.start();
    const next = new Set(entries.map(vipChainName));
    const staleChains = [...this.programmed].filter((c) => !next.has(c));
    await this.nft(['-f', '-'], vipScript(entries, { table: this.options.table, staleChains }));
    this.programmed = next;
  }

  /** Removes the table. Flows through a VIP lose their translation with it: only at shutdown. */
  async cleanup(): Promise<void> {
    await this.nft(['-f', '-'], vipCleanupScript(this.options.table));
    this.programmed.clear();
  }

  private nft(args: string[], input: string): Promise<string> {
    const nft = this.options.nft ?? 'nft';
    const [cmd, argv] = this.options.netns === undefined ? [nft, args] : ['ip', ['netns', 'exec', this.options.netns, nft, ...args]];
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        if (out.length < MAX_OUTPUT * 16) out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        if (err.length < MAX_OUTPUT) err += d.toString();
      });
      child.on('error', (e) => reject(new NftUnavailable(`cannot run ${cmd} (Debian: nftables): ${e.message}`, { cause: e })));
      child.on('close', (code) => {
        if (code === 0) resolve(out);
        else reject(new DroverError('INTERNAL', `nft ${args.join(' ')} failed (exit ${code}): ${err.trim().slice(0, 2000)}`));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    });
  }
}

/**
 * Why this host's kernel cannot take VIPs here, or undefined when it can: root (CAP_NET_ADMIN),
 * the nft binary, and nf_tables answering (`nft list tables`). `drover dev` asks before turning
 * VIPs on by default.
 */
export function vipsUnavailable(nft = 'nft'): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return Promise.resolve('not root (nftables needs CAP_NET_ADMIN)');
  return new Promise((resolve) => {
    const child = spawn(nft, ['list', 'tables'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 2000) err += d.toString();
    });
    child.on('error', (e) => resolve(`cannot run ${nft} (Debian: nftables): ${e.message}`));
    child.on('close', (code) => resolve(code === 0 ? undefined : `nft list tables failed (exit ${code}): ${err.trim().slice(0, 500)}`));
  });
}
