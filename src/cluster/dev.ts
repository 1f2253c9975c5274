/**
 * `drover dev`: the whole single-node cluster in one process, all state under --data-dir.
 * For now: the embedded store and the HTTP API's health endpoint. The master, agent, frameworks,
 * DNS and UI join here as their issues land, so one folder stays the whole cluster.
 */
import { mkdir } from 'node:fs/promises';
import { resolve, join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../log/index.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';

export interface DevOptions {
  port: number;
  host: string;
  dataDir: string;
  logger: Logger;
}

export interface DevCluster {
  readonly url: string;
  readonly store: Store;
  close(): Promise<void>;
}

export async function startDev(options: DevOptions): Promise<DevCluster> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const store = await openStore(`sqlite:${join(dataDir, 'store.db')}`);
  const http: FastifyInstance = Fastify({ logger: false });
  http.get('/ping', async (_request, reply) => reply.type('text/plain').send('pong'));
  try {
    await http.listen({ port: options.port, host: options.host });
  } catch (e) {
    await store.close();
    throw e;
  }
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}`;
  options.logger.info({ url, dataDir, store: store.backend }, 'dev-cluster-started');
  return {
    url,
    store,
    async close() {
      await http.close();
      await store.close();
      options.logger.info({ dataDir }, 'dev-cluster-stopped');
    },
  };
}
