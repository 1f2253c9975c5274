/**
 * A loopback TCP proxy that, while armed, cuts a connection once more than `afterBytes` of the
 * server's answer have passed through it — an interrupted blob download with nothing faked in
 * the registry itself. Disarmed it forwards everything.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface CuttingProxy {
  readonly host: string;
  /** Cut the next connection whose answer passes `afterBytes`; the count of cuts made so far. */
  arm(afterBytes: number): void;
  disarm(): void;
  readonly cuts: number;
  stop(): Promise<void>;
}

export async function startCuttingProxy(targetPort: number): Promise<CuttingProxy> {
  let limit: number | undefined;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let passed = 0;
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      passed += chunk.length;
      if (limit !== undefined && passed > limit) {
        limit = undefined;
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    arm: (afterBytes) => {
      limit = afterBytes;
    },
    disarm: () => {
      limit = undefined;
    },
    get cuts() {
      return cuts;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
