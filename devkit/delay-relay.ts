/**
 * A TCP relay that delays what passes through it, for fault tests on kernels without netem
 * (devkit/netns.ts): every chunk read from one side is written to the other after a random
 * 0…maxDelayMs, never before an earlier chunk of the same direction (a stream stays in order, as
 * TCP over a link with jitter delivers it). An agent started with `--master http://RELAY` then
 * talks to the master over a slow, jittery path; `setMaxDelay(0)` makes it a plain relay again.
 * Packet loss is added on the agent's link by `Lan.lossy` (iptables), so TCP still retransmits.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export interface DelayRelay {
  readonly port: number;
  setMaxDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startDelayRelay(options: { host: string; target: { host: string; port: number }; maxDelayMs?: number; random?: () => number }): Promise<DelayRelay> {
  let maxDelayMs = options.maxDelayMs ?? 0;
  const random = options.random ?? Math.random;
  const sockets = new Set<Socket>();

  /** Pipes `from` into `to` with the delay; `end` follows the last chunk. */
  const pipeDelayed = (from: Socket, to: Socket): void => {
    const queue: Array<{ dueAt: number; chunk: Buffer | null }> = [];
    let lastDue = 0;
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && queue[0]!.dueAt <= now) {
        const { chunk } = queue.shift()!;
        if (to.destroyed) return;
        if (chunk === null) to.end();
        else to.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(flush, queue[0]!.dueAt - now);
    };
    const push = (chunk: Buffer | null): void => {
      lastDue = Math.max(lastDue, Date.now() + Math.floor(random() * maxDelayMs));
      queue.push({ dueAt: lastDue, chunk });
      if (timer === undefined) timer = setTimeout(flush, Math.max(0, queue[0]!.dueAt - Date.now()));
    };
    from.on('data', (chunk: Buffer) => push(chunk));
    from.on('end', () => push(null));
    from.on('close', () => {
      if (queue.length === 0 && timer !== undefined) clearTimeout(timer);
    });
  };

  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: options.target.host, port: options.target.port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      // Either side failing ends both, as a reset would.
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  server.listen(0, options.host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  return {
    port: address.port,
    setMaxDelay(ms) {
      if (!(ms >= 0 && ms <= 60_000)) throw new Error(`delay must be 0…60000 ms, got ${ms}`);
      maxDelayMs = ms;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
