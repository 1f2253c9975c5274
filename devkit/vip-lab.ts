/**
 * A lab for VIPs on the real kernel, for test/vip-kernel.test.ts and bench/vip.ts: a private
 * bridge (netns.ts) with an "agent" namespace — where the VIP nftables table is programmed and
 * clients run — and one namespace per backend, each running vip-lab/backend.mjs (an HTTP server
 * that answers with its name). `addTaskNamespace()` adds a namespace routed through the agent, as
 * a task on a CNI bridge is, to exercise the prerouting path. Clients (vip-lab/client.mjs) take
 * JSON commands on stdin. Names are random (netns.ts); `destroy()` removes everything.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KernelVips } from '../src/agent/vip/kernel-vips.ts';
import { vipTableName } from '../src/agent/vip/nft-script.ts';
import { createLan, type Lan, type NetNode } from './netns.ts';

const BACKEND = fileURLToPath(new URL('./vip-lab/backend.mjs', import.meta.url));
const CLIENT = fileURLToPath(new URL('./vip-lab/client.mjs', import.meta.url));

export interface LabBackend {
  readonly name: string;
  readonly node: NetNode;
  readonly port: number;
  /** SIGTERM, and resolves when the process is gone. */
  kill(): Promise<void>;
}

export interface LabClient {
  request<T = unknown>(command: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

export interface VipLab {
  readonly lan: Lan;
  /** The namespace the VIP table is programmed in (the "agent host"). */
  readonly agent: NetNode;
  readonly backends: LabBackend[];
  /** nftables table name in the agent namespace. */
  readonly table: string;
  readonly kernel: KernelVips;
  /** A client process inside `ns` (default: the agent namespace). */
  client(ns?: string): Promise<LabClient>;
  /** A namespace behind the agent (veth, default route through it), as a CNI task's. */
  addTaskNamespace(): string;
  /** `nft …` inside the agent namespace; its stdout. */
  nft(args: string[]): string;
  destroy(): Promise<void>;
}

export function vipLabUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['ip', 'nft'])
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is missing (Debian: ${tool === 'nft' ? 'nftables' : 'iproute2'})`;
    }
  return undefined;
}

const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).toString();

function waitReady(child: ChildProcessWithoutNullStreams, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 4000) err += d.toString();
    });
    const lines = createInterface({ input: child.stdout });
    const onLine = (line: string) => {
      if (line === 'ready') {
        lines.off('line', onLine);
        resolve();
      }
    };
    lines.on('line', onLine);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready: ${err}`)));
  });
}

export async function createVipLab(options: { backends: number; port?: number }): Promise<VipLab> {
  const tag = randomBytes(3).toString('hex');
  const lan = createLan();
  const port = options.port ?? 8080;
  const children = new Set<ChildProcessWithoutNullStreams>();
  const taskNamespaces: string[] = [];
  const spawnIn = (ns: string, args: string[]) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  try {
    const agent = lan.addNode();
    // A route that covers the VIP range (a real host's default route does), and forwarding for
    // the task namespaces behind it.
    run('ip', ['-n', agent.ns, 'route', 'add', 'default', 'via', lan.hostIp]);
    run('ip', ['netns', 'exec', agent.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const backends: LabBackend[] = [];
    for (let i = 0; i < options.backends; i++) {
      const node = lan.addNode();
      const name = `b${i}`;
      const child = spawnIn(node.ns, [BACKEND, name, String(port)]);
      await waitReady(child, `backend ${name}`);
      backends.push({
        name,
        node,
        port,
        kill: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      });
    }
    const table = vipTableName(`_lab${tag}`);
    const kernel = new KernelVips({ table, netns: agent.ns });
    let destroyed = false;
    return {
      lan,
      agent,
      backends,
      table,
      kernel,
      async client(ns = agent.ns) {
        const child = spawnIn(ns, [CLIENT]);
        await waitReady(child, 'client');
        const waiting = new Map<number, { resolve: (answer: unknown) => void; reject: (e: Error) => void }>();
        let next = 0;
        child.once('exit', () => {
          for (const w of waiting.values()) w.reject(new Error('client exited'));
          waiting.clear();
        });
        createInterface({ input: child.stdout }).on('line', (line) => {
          const { id, answer } = JSON.parse(line) as { id: number; answer: unknown };
          waiting.get(id)?.resolve(answer);
          waiting.delete(id);
        });
        return {
          request<T>(command: Record<string, unknown>): Promise<T> {
            const id = next++;
            return new Promise<T>((resolve, reject) => {
              if (child.exitCode !== null) return reject(new Error('client exited'));
              waiting.set(id, { resolve: (a) => resolve(a as T), reject });
              child.stdin.write(`${JSON.stringify({ ...command, id })}\n`);
            });
          },
          close: () =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.stdin.end();
            }),
        };
      },
      addTaskNamespace() {
        const i = taskNamespaces.length;
        const ns = `dvt${tag}-${i}`;
        const outside = `dvo${tag}${i}`;
        const inside = `dvi${tag}${i}`;
        run('ip', ['netns', 'add', ns]);
        taskNamespaces.push(ns);
        run('ip', ['-n', agent.ns, 'link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', ns]);
        // Namespaces are private: the same small subnet in each is fine.
        run('ip', ['-n', agent.ns, 'addr', 'add', `192.168.${100 + i}.1/24`, 'dev', outside]);
        run('ip', ['-n', agent.ns, 'link', 'set', outside, 'up']);
        run('ip', ['-n', ns, 'addr', 'add', `192.168.${100 + i}.2/24`, 'dev', inside]);
        run('ip', ['-n', ns, 'link', 'set', inside, 'up']);
        run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        run('ip', ['-n', ns, 'route', 'add', 'default', 'via', `192.168.${100 + i}.1`]);
        return ns;
      },
      nft(args) {
        return run('ip', ['netns', 'exec', agent.ns, 'nft', ...args]);
      },
      async destroy() {
        if (destroyed) return;
        destroyed = true;
        await Promise.all(
          [...children].map(
            (c) =>
              new Promise<void>((resolve) => {
                if (c.exitCode !== null || c.signalCode !== null) return resolve();
                c.once('exit', () => resolve());
                c.kill('SIGKILL');
              }),
          ),
        );
        for (const ns of taskNamespaces) {
          try {
            run('ip', ['netns', 'del', ns]);
          } catch {}
        }
        lan.destroy();
      },
    };
  } catch (error) {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of taskNamespaces) {
      try {
        run('ip', ['netns', 'del', ns]);
      } catch {}
    }
    lan.destroy();
    throw error;
  }
}
