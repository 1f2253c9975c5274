/**
 * A master in a highly available set (`drover master --store etcd://…`): every master campaigns
 * for leadership of the `drover-master` election with its advertised URL (a leased key, as
 * Hydrogen did with etcd); exactly one leads.
 *
 * - **Standby**: a small HTTP server on the master's port answers `/ping`, `/v2/leader`,
 *   `/master/redirect`, and sends every other request to the leader with a 307 and `Location`
 *   (as a Mesos standby does), or 503 while nobody leads. Agents, the SDK and HTTP clients follow.
 * - **Elected**: the standby server is closed and the full master (the Master, its APIs and the
 *   built-in frameworks) starts on the same port over a *fenced* view of the store
 *   (store/fenced-store.ts), so every write is guarded by the leadership. Its state is rebuilt as
 *   after any master restart: the registry from the store, tasks from agents' re-registration,
 *   frameworks' desired state from their own keys, followed by reconciliation.
 * - **Deposed** (lease lost: the process was paused, cut off from etcd, or it abdicated through
 *   Marathon's `DELETE /v2/leader`): it steps
 *   down at once — framework and agent streams close, the master stops — and stands again as a
 *   standby. Launches and kills are also checked against the store right before they go out
 *   (Master.confirmLeadership), so a master that wakes up past its lease acts on nothing.
 */
import { hostname } from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHttpServer } from '../http/server.ts';
import { isDroverError } from '../errors/errors.ts';
import { fencedStore } from '../store/fenced-store.ts';
import type { Leadership, Observer } from '../store/store.ts';
import { startMasterServer, type MasterServer, type MasterServerOptions } from './master.ts';

export const MASTER_ELECTION = 'drover-master';

export interface HaMasterOptions extends MasterServerOptions {
  /** The URL the other masters send clients to (default http://<host or hostname>:<port>). */
  advertiseUrl?: string;
  /** TTL of the leadership lease: a dead leader is replaced within about this long. */
  leaderTtlSeconds: number;
}

export interface HaMaster {
  /** This master's own URL (leading or not). */
  readonly url: string;
  readonly advertiseUrl: string;
  /** The leader's URL as last observed (this one's own while it leads). */
  leaderUrl(): string | undefined;
  leading(): boolean;
  /** The running master while this one leads. */
  server(): MasterServer | undefined;
  /** Resolves the next time this master becomes leader (immediately if it leads). */
  elected(): Promise<void>;
  /** Step down (resign) and stand again; another master takes over. */
  abdicate(): Promise<void>;
  close(): Promise<void>;
}

export async function startHaMaster(options: HaMasterOptions): Promise<HaMaster> {
  const { store, logger: log, leaderTtlSeconds } = options;
  let port = options.port;
  let leaderUrl: string | undefined;
  let standby: FastifyInstance | undefined;
  let leader: { server: MasterServer; leadership: Leadership } | undefined;
  let stopped = false;
  const campaignAbort = new AbortController();
  let electedWaiters: Array<() => void> = [];
  let abdicating: (() => void) | undefined;

  const startStandby = async (): Promise<void> => {
    const app = createHttpServer({ logger: log });
    app.get('/ping', async (_request, reply) => reply.type('text/plain').send('pong'));
    app.get('/v2/leader', async (_request, reply) => {
      if (leaderUrl === undefined || leaderUrl === advertiseUrlOf()) return reply.code(404).send({ message: 'There is no leader' });
      return { leader: new URL(leaderUrl).host };
    });
    const redirect = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      const target = request.url === '/master/redirect' ? '' : request.url;
      // A standby is never the leader: its own URL there is stale news (the store cannot tell us
      // better, e.g. without quorum), and a redirect to itself would loop.
      if (leaderUrl === undefined || leaderUrl === advertiseUrlOf()) return reply.code(503).header('retry-after', '1').send({ message: 'No leading master yet: retry shortly' });
      return reply.code(307).header('location', `${leaderUrl}${target}`).send();
    };
    app.all('/', redirect);
    app.all('/*', redirect);
    await app.listen({ port, host: options.host });
    const address = app.server.address();
    if (typeof address === 'object' && address !== null) port = address.port;
    standby = app;
  };

  let advertised: string | undefined;
  const advertiseUrlOf = (): string | undefined => advertised;
  await startStandby();
  const hostForUrl = options.host === '0.0.0.0' || options.host === '::' ? hostname() : options.host;
  const advertiseUrl = options.advertiseUrl ?? `http://${hostForUrl}:${port}`;
  advertised = advertiseUrl;
  const url = `http://${options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host}:${port}`;
  const observer: Observer = await store.observe(MASTER_ELECTION, (o) => {
    leaderUrl = o.leader;
    log.info({ leader: o.leader }, 'master-leader-observed');
  });

  // A deposed master's in-flight writes fail with STORE_FENCED; those are expected, not crashes.
  const onRejection = (reason: unknown): void => {
    if (isDroverError(reason, 'STORE_FENCED')) log.warn({ err: (reason as Error).message }, 'fenced-write-refused');
    else throw reason;
  };
  process.on('unhandledRejection', onRejection);

  const lead = async (leadership: Leadership): Promise<void> => {
    const lost = new Promise<string>((resolve) => {
      leadership.onLost(() => resolve('leadership lost'));
      abdicating = () => resolve('abdicated');
    });
    await standby?.close();
    standby = undefined;
    let server: MasterServer;
    try {
      server = await startMasterServer({
        ...options,
        port,
        // Marathon's `DELETE /v2/leader`: the leader abdicates and another master takes over.
        mount: (app, master) => {
          options.mount?.(app, master);
          app.delete('/v2/leader', async () => {
            setImmediate(() => abdicating?.());
            return { message: 'Leadership abdicated' };
          });
        },
        store: fencedStore(store, leadership),
        checkLeadership: async () => {
          await leadership.write([]);
        },
      });
    } catch (err) {
      log.error({ err }, 'master-start-failed-after-election');
      await leadership.resign().catch(() => undefined);
      return;
    }
    leader = { server, leadership };
    leaderUrl = advertiseUrl;
    log.info({ url: advertiseUrl, masterId: server.master.id, fencingToken: leadership.revision }, 'master-elected');
    for (const waiter of electedWaiters) waiter();
    electedWaiters = [];
    const why = await Promise.race([lost, new Promise<string>((resolve) => campaignAbort.signal.addEventListener('abort', () => resolve('stopping')))]);
    log.warn({ why }, 'master-stepping-down');
    leader = undefined;
    // Until the store says who leads now, nobody is known to.
    if (leaderUrl === advertiseUrl) leaderUrl = undefined;
    abdicating = undefined;
    // Stop answering as leader at once: the listening socket and every open connection go first,
    // so clients meet the standby (a redirect, or 503 while nobody leads), never a deposed
    // leader whose writes are all refused as fenced.
    server.app.server.close();
    server.app.server.closeAllConnections();
    // Bounded: without the store (no quorum) the frameworks' last writes hang until their
    // deadlines; the standby must come up regardless (it retries its port until it is free).
    const closed = server.close().catch((err: unknown) => log.warn({ err }, 'master-step-down-error'));
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    // Resigning talks to the store, which may be what failed: bounded too (the lease expires anyway).
    await Promise.race([leadership.resign().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
  };

  const loop = (async () => {
    while (!stopped) {
      if (standby === undefined) {
        try {
          await startStandby();
        } catch (err) {
          log.error({ err }, 'standby-start-failed');
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
      }
      let leadership: Leadership;
      try {
        leadership = await store.campaign(MASTER_ELECTION, advertiseUrl, { ttlSeconds: leaderTtlSeconds, signal: campaignAbort.signal });
      } catch (err) {
        if (stopped) break;
        log.warn({ err }, 'master-campaign-failed');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (stopped) {
        await leadership.resign().catch(() => undefined);
        break;
      }
      await lead(leadership);
    }
  })();

  return {
    url,
    advertiseUrl,
    leaderUrl: () => leaderUrl,
    leading: () => leader !== undefined,
    server: () => leader?.server,
    elected: () => (leader !== undefined ? Promise.resolve() : new Promise((resolve) => electedWaiters.push(resolve))),
    async abdicate() {
      abdicating?.();
    },
    async close() {
      stopped = true;
      campaignAbort.abort();
      await loop;
      await observer.cancel().catch(() => undefined);
      await standby?.close();
      process.off('unhandledRejection', onRejection);
    },
  };
}
