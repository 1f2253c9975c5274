/**
 * Composition of a master process: store + Master + HTTP API. Used by `drover master` and
 * `drover dev`, and by tests that need a real master on a loopback port.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../log/index.ts';
import { createHttpServer } from '../http/server.ts';
import { Master, type MasterOptions } from '../master/master.ts';
import type { AgentRemovalStatus } from '../master/agent-health.ts';
import { registerMasterRoutes } from '../master/api/routes.ts';
import { registerOperatorRoutes } from '../master/api/operator.ts';
import { registerOperatorV1Routes } from '../master/api/operator-v1.ts';
import type { Store } from '../store/store.ts';
import { ServicesFramework } from '../frameworks/services/services.ts';
import { DRAINING_EVENT } from '../frameworks/services/convergence.ts';
import { registerServicesRoutes } from '../frameworks/services/api.ts';
import { registerMarathonMetrics } from '../frameworks/services/metrics.ts';
import { inProcessTransport } from './in-process-master.ts';
import { registerAgentFilesRoutes } from '../master/api/agent-files.ts';
import { registerAgentExecRoute } from '../master/api/agent-exec.ts';
import { registerWebUi } from '../http/static.ts';
import { JobsFramework } from '../frameworks/jobs/jobs.ts';
import { registerJobsRoutes } from '../frameworks/jobs/api.ts';
import { SecretStore } from '../secrets/secret-store.ts';
import { registerSecretsRoutes } from '../secrets/api.ts';
import { Iam } from '../iam/iam.ts';
import { installGuard, principalOf } from '../iam/guard.ts';
import { registerAcsRoutes } from '../iam/acs-api.ts';
import { appPathOfTask } from '../iam/task-paths.ts';
import { ClusterCa } from '../iam/tls-ca.ts';
import { type PlainHttp, setServerCertificate, tlsServerFactory } from '../iam/tls-server.ts';
import { registerCaRoutes } from '../iam/ca-api.ts';
import { tlsFetch } from '../iam/tls-client.ts';
import { hostname as osHostname, networkInterfaces } from 'node:os';
import { registerCatalogRoutes } from '../catalog/cosmos-api.ts';
import { Repositories } from '../catalog/repositories.ts';
import { type Discovery, type DiscoveryOptions, prepareDiscovery } from '../discovery/discovery.ts';

export interface MasterServerOptions extends Omit<MasterOptions, 'store' | 'logger' | 'port'> {
  store: Store;
  logger: Logger;
  port: number;
  host: string;
  /** Extra routes on the same server (dev mode mounts more APIs here). */
  mount?: (app: FastifyInstance, master: Master) => void;
  /** Run the built-in services framework (Marathon's /v2 API) in this process (default true). */
  services?: boolean;
  /** Serve the web UI (web/dist) at `/` (default true). */
  ui?: boolean;
  /** Run the built-in jobs framework (Metronome's /v1 API) in this process (default true). */
  jobs?: boolean;
  /** Finished runs kept per job in the jobs framework's history (default 10). */
  jobsHistoryCount?: number;
  /** Largest body the frameworks' APIs (/v1, /v2) take; default API_BODY_LIMIT (1 MiB). */
  apiBodyLimit?: number;
  /** `--default-task-user`: the built-in frameworks' FrameworkInfo.user (Marathon's --mesos_user); default nobody. */
  defaultTaskUser?: string;
  /**
   * The secret store's key (src/secrets/key-file.ts). Without it secrets can be listed and deleted
   * but not written or read; with secrets in the store, a missing or wrong key refuses the start.
   */
  secretsKey?: Buffer;
  /** Authentication and permissions (src/iam): on unless `{ mode: 'off' }`, which is logged loudly. */
  auth?: AuthOptions;
  /** HTTPS with the cluster CA (src/iam/tls-*.ts); default off here, on in `drover dev|master`. */
  tls?: TlsOptions;
  /** TLS on: after a CA rotation step, the CA certificates trusted now (PEM), e.g. to rewrite `<data-dir>/ca.crt`. */
  onCaChanged?: (bundlePem: string) => void | Promise<void>;
  /** Mesos-DNS names served by this master (src/discovery): DNS on UDP+TCP `port`; absent = off. */
  dns?: Omit<DiscoveryOptions, 'host'> & {
    host?: string;
    /** If the port cannot be bound: go on without DNS (logged) instead of failing the start (`drover dev`'s default port). */
    optional?: boolean;
  };
  /** Where services' `port: 0` service ports come from (Marathon's --local_port_min/max). */
  servicePortRange?: { min: number; max: number };
  /** Roles of the services framework; the first is its apps' default role (Marathon's --mesos_role). Default `['*']`. */
  servicesRoles?: readonly string[];
  /** The package catalog (Cosmos' /package API, src/catalog): on with the services framework; `localPaths` are the directories `file://` repositories may live under (`--catalog-local-path`). */
  catalog?: { localPaths?: string[] } | false;
}

export type TlsOptions =
  | { mode: 'off' }
  | {
      mode: 'on';
      /** Where plain HTTP is still served on the same port (default: loopback peers only). */
      plain?: PlainHttp;
      /** The operator's certificate and key (PEM) instead of one the cluster CA issues. */
      certPem?: string;
      keyPem?: string;
      /** More names the master's certificate should hold (besides this machine's names and IPs). */
      hostnames?: string[];
      /** Lifetime of the agent certificates it issues (default a year; agents renew at two thirds). */
      agentCertTtlMs?: number;
    };

/** This machine's names and addresses, for the master's certificate. */
function localNames(host: string, extra: readonly string[]): string[] {
  const names = ['localhost', osHostname(), '127.0.0.1', '::1', ...extra];
  if (host !== '0.0.0.0' && host !== '::') names.push(host);
  else for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.push(a.address.replace(/%.*$/, ''));
  return [...new Set(names.filter((n) => n !== ''))];
}

export type AuthOptions =
  | { mode: 'off' }
  | {
      mode?: 'on';
      /** The bootstrap admin token (replaces the stored one); default: generated at the first start. */
      adminToken?: string;
      /** The agent bootstrap token (replaces the stored one); default: generated at the first start. */
      agentToken?: string;
      /** Lifetime of login tokens (default 5 days, as DC/OS). */
      tokenTtlSeconds?: number;
    };

/**
 * Marathon's and Metronome's definitions are a few KiB; a 10 MB app body was accepted and held the
 * event loop for 4 s while it was validated. The master's own APIs keep the server's larger limit
 * (a framework's ACCEPT of 10,000 launches is legitimately big).
 */
export const API_BODY_LIMIT = 1024 * 1024;

/**
 * The master's removal limits, told to `/v2/events` (the stream Marathon clients and the UI
 * follow): `agent_removal_held_event` whenever the set of held agents changes while some are
 * held, `agent_removal_released_event` when none is held any more (they came back, or were
 * marked unreachable after all). Drover's own event types; Marathon clients that do not know
 * them skip them, as SSE clients do with any event they did not ask for.
 */
function publishRemovalEvent(services: ServicesFramework, s: AgentRemovalStatus): void {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  services.events.publish(s.held > 0 ? 'agent_removal_held_event' : 'agent_removal_released_event', {
    held: s.held,
    unreachable: s.unreachable,
    agents: s.agents,
    ...(s.reason === undefined ? {} : { reason: s.reason }),
    ...(s.heldSince === undefined ? {} : { heldSince: iso(s.heldSince) }),
    ...(s.retryAt === undefined ? {} : { retryAt: iso(s.retryAt) }),
    markedInWindow: s.markedInWindow,
    ...(s.windowCap === undefined ? {} : { windowCap: s.windowCap }),
    heldAgents: s.heldAgents.map((a) => ({ id: a.id, hostname: a.hostname })),
  });
}

export interface MasterServer {
  readonly master: Master;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly services: ServicesFramework | undefined;
  readonly jobs: JobsFramework | undefined;
  /** The secret store; `resolve(paths)` gives values to whatever launches with them (tasks, image pulls). */
  readonly secrets: SecretStore;
  /** Identity and access; undefined with auth off. */
  readonly iam: Iam | undefined;
  /** TLS on: the cluster CA's certificate (PEM) clients and agents trust, and the HTTPS URL. */
  readonly caCertPem: string | undefined;
  readonly httpsUrl: string | undefined;
  /** DNS (Mesos-DNS names) when started with `dns`. */
  readonly discovery: Discovery | undefined;
  close(): Promise<void>;
}

export async function startMasterServer(options: MasterServerOptions): Promise<MasterServer> {
  const {
    store,
    logger,
    port,
    host,
    mount,
    services: withServices = true,
    jobs: withJobs = true,
    jobsHistoryCount,
    ui = true,
    apiBodyLimit: _limit,
    defaultTaskUser,
    secretsKey,
    auth = {},
    tls = { mode: 'off' },
    onCaChanged,
    dns: dnsOptions,
    servicePortRange,
    servicesRoles,
    catalog: catalogOptions = {},
    ...masterOptions
  } = options;
  // First: a master that cannot open its secrets would launch tasks that never get them.
  const secrets = new SecretStore(store, secretsKey);
  await secrets.verifyKey();
  const frameworkUser = defaultTaskUser === undefined ? {} : { frameworkUser: defaultTaskUser };
  // The CA first too: the server is made with its certificate. `let`: a CA rotation replaces it (018-ca-rotation.md).
  const caOptions = secretsKey === undefined ? {} : { sealKey: secretsKey };
  let ca = tls.mode === 'on' ? await ClusterCa.open(store, caOptions) : undefined;
  /**
   * The certificate this server presents: the operator's, or one of the serving CA with that CA
   * after it — an agent given only the CA's hash (--master-ca-hash) finds the CA in the chain
   * (src/iam/tls-pin.ts).
   */
  const servedCertificate = async (authority: ClusterCa): Promise<{ certPem: string; keyPem: string }> => {
    if (tls.mode === 'on' && tls.certPem !== undefined && tls.keyPem !== undefined) return { certPem: tls.certPem, keyPem: tls.keyPem };
    const issued = await authority.issueMaster(localNames(host, tls.mode === 'on' ? (tls.hostnames ?? []) : []));
    return { certPem: `${issued.certPem.trimEnd()}\n${authority.servingCertPem}`, keyPem: issued.keyPem };
  };
  let serverFactory: ReturnType<typeof tlsServerFactory> | undefined;
  if (ca !== undefined && tls.mode === 'on') {
    // Clients' certificates are checked against every CA trusted now (two during a rotation).
    serverFactory = tlsServerFactory({ ...(await servedCertificate(ca)), clientCaPem: ca.bundlePem, plain: tls.plain ?? 'loopback' });
    logger.info({ plainHttp: tls.plain ?? 'loopback', operatorCertificate: tls.certPem !== undefined, caRotating: ca.rotating }, 'tls-on');
  }
  // Master → agent (the files relay): mTLS with a master certificate of the CA, and per agent a
  // connection pool that accepts only a certificate binding that agent's id.
  let agentFetch: ((agentId: string) => typeof fetch) | undefined;
  let relayTls: { caPem: string; certPem: string; keyPem: string } | undefined;
  const pools = new Map<string, typeof fetch>();
  if (ca !== undefined) {
    const client = await ca.issueMaster([]);
    // Changed in place by a CA rotation (the exec relay reads it at every call).
    const relay = { caPem: ca.bundlePem, certPem: client.certPem, keyPem: client.keyPem };
    relayTls = relay;
    agentFetch = (agentId) => {
      let pool = pools.get(agentId);
      if (pool === undefined) {
        if (pools.size >= 100_000) pools.clear();
        pool = tlsFetch({ caPem: relay.caPem, certPem: relay.certPem, keyPem: relay.keyPem, expectAgentId: agentId });
        pools.set(agentId, pool);
      }
      return pool;
    };
  }
  const app = createHttpServer({ logger, ...(serverFactory === undefined ? {} : { serverFactory: serverFactory as never }) });
  const apiBodyLimit = options.apiBodyLimit ?? API_BODY_LIMIT;
  app.addHook('onRoute', (route) => {
    if (route.bodyLimit === undefined && /^\/v[0-9]\//.test(route.url ?? '')) route.bodyLimit = apiBodyLimit;
  });
  // The guard goes first: its hooks must see every route registered after it.
  let iam: Iam | undefined;
  let services: ServicesFramework | undefined;
  let master: Master | undefined;
  if (auth.mode === 'off') {
    logger.warn({ auth: 'off' }, 'AUTHENTICATION-IS-OFF: every API of this master is open to anyone who can reach it (--auth off)');
  } else {
    iam = await Iam.open(store, { ...(auth.adminToken === undefined ? {} : { adminToken: auth.adminToken }), ...(auth.agentToken === undefined ? {} : { agentToken: auth.agentToken }) });
    installGuard(app, {
      iam,
      audit: logger.child({ part: 'audit' }),
      lookups: {
        appOfTask: (taskId) => services?.instances.get(taskId)?.appId ?? (appPathOfTask(taskId) === '/' ? undefined : appPathOfTask(taskId)),
        appExists: (id) => (services?.apps.has(id) ?? false) || (services?.pods.pods.has(id) ?? false),
        frameworkRoles: (id) => master?.frameworks.get(id)?.roles,
      },
      revokedAgent: (agentId) => master?.goneAgents.has(agentId) ?? false,
    });
    registerAcsRoutes(app, iam, auth.tokenTtlSeconds === undefined ? {} : { tokenTtlSeconds: auth.tokenTtlSeconds });
  }
  const agentIam = iam;
  master = new Master({
    ...masterOptions,
    store,
    logger,
    port,
    resolveSecrets: (paths) => secrets.resolve(paths),
    ...(agentIam ? { agentCredential: (agentId: string) => agentIam.agentToken(agentId) } : {}),
    ...(ca
      ? {
          agentCertificate: (agentId: string, csrPem: string) => ca!.signAgentCsr(csrPem, agentId, tls.mode === 'on' && tls.agentCertTtlMs !== undefined ? { ttlMs: tls.agentCertTtlMs } : {}),
          agentCaBundle: () => ca!.bundlePem,
        }
      : {}),
    ...(agentFetch ? { agentFetch } : {}),
  });
  registerMasterRoutes(app, master);
  registerOperatorRoutes(app, master);
  registerOperatorV1Routes(app, master);
  const relayIam = iam;
  registerAgentFilesRoutes(
    app,
    master,
    relayIam === undefined
      ? undefined
      : async (request) => {
          const principal = principalOf(request);
          return principal === undefined ? undefined : relayIam.delegatedToken(principal);
        },
  );
  registerAgentExecRoute(app, master, {
    ...(relayTls === undefined ? {} : { tls: relayTls }),
    ...(relayIam === undefined
      ? {}
      : {
          credential: async (request: FastifyRequest) => {
            const principal = principalOf(request);
            return principal === undefined ? undefined : relayIam.delegatedToken(principal, 'exec');
          },
        }),
  });
  mount?.(app, master);
  services = withServices
    ? new ServicesFramework({
        transport: inProcessTransport(master),
        store,
        logger: logger.child({ part: 'services' }),
        ...frameworkUser,
        ...(servicePortRange === undefined ? {} : { servicePortRange }),
        ...(servicesRoles === undefined || servicesRoles.length === 0 ? {} : { role: servicesRoles[0]!, roles: servicesRoles.slice(1) }),
      })
    : undefined;
  registerSecretsRoutes(app, secrets);
  // The CA's rotation: what changes in this master when the stored CA does (018-ca-rotation.md).
  const applyCa = async (next: ClusterCa): Promise<void> => {
    const served = await servedCertificate(next);
    const client = await next.issueMaster([]);
    ca = next;
    setServerCertificate(app.server, { ...served, caPem: next.bundlePem });
    if (relayTls !== undefined) Object.assign(relayTls, { caPem: next.bundlePem, certPem: client.certPem, keyPem: client.keyPem });
    pools.clear();
    await onCaChanged?.(next.bundlePem);
  };
  /** Asks agents to register again now (closing their streams; they come back with their tasks): there they get the CA bundle, and a certificate of the new CA. */
  const reregisterAgents = (which: (agent: { certificateIssuer?: string }) => boolean): void => {
    for (const agent of master!.agents.values()) if (agent.stream?.isOpen && which(agent)) agent.stream.close();
  };
  registerCaRoutes(
    app,
    {
      summary: () => (ca === undefined ? undefined : { ...ca.summary(), signingSubject: ca.subject }),
      rotate: async () => {
        await applyCa(await ClusterCa.rotate(store, caOptions));
        logger.warn({ ca: ca?.summary() }, 'cluster-ca-rotation-started');
        const signing = ca?.subject;
        reregisterAgents((agent) => agent.certificateIssuer !== signing);
      },
      finish: async () => {
        await applyCa(await ClusterCa.finishRotation(store, caOptions));
        logger.warn({ ca: ca?.summary() }, 'cluster-ca-rotation-finished');
        // Every agent registers again: it is told to trust the new CA alone. One still on the old CA
        // (a forced finish) is refused from then on.
        reregisterAgents(() => true);
      },
    },
    {
      agents: () => [...master!.agents.values()].filter((a) => a.status === 'active' && !master!.goneAgents.has(a.id)).map((a) => ({ id: a.id, hostname: a.hostname, issuer: a.certificateIssuer })),
    },
  );
  if (services) {
    registerServicesRoutes(app, services);
    registerMarathonMetrics(master.metrics.registry, services, Date.now());
    // Installs go through the /v2 routes above; without services there is nothing to install into.
    if (catalogOptions !== false) registerCatalogRoutes(app, new Repositories({ store, localPaths: catalogOptions.localPaths ?? [] }));
    master.removalWatchers.add((status) => publishRemovalEvent(services, status));
  }
  const jobs = withJobs
    ? new JobsFramework({
        transport: inProcessTransport(master),
        store,
        logger: logger.child({ part: 'jobs' }),
        ...frameworkUser,
        ...(jobsHistoryCount === undefined ? {} : { historyCount: jobsHistoryCount }),
      })
    : undefined;
  if (jobs) registerJobsRoutes(app, jobs);
  // The built-in frameworks load their state from the store after the server listens (they need
  // the bound port); until they have, their APIs answer 503 rather than an empty list that a
  // client would take for the truth (after a failover, "no apps" would be a lie).
  let frameworksReady = false;
  app.addHook('onRequest', async (request, reply) => {
    if (frameworksReady || !/^\/v[0-9]\//.test(request.url)) return;
    await reply.code(503).header('retry-after', '1').send({ message: 'Drover is starting: its frameworks are loading their state; retry shortly' });
  });
  const discoveryPlan = dnsOptions ? prepareDiscovery(app, { ...dnsOptions, host: dnsOptions.host ?? host }, '0.1.0') : undefined;
  // Last: its catch-all GET route answers only what no API route matched.
  if (ui) registerWebUi(app);
  await master.start();
  // Before the server listens: the zone must see every agent's re-registration (src/discovery).
  // The services framework's kill decisions (before its KILL) take the task's names out at once.
  const attached = discoveryPlan?.attach(
    master,
    services
      ? (drained) =>
          services.events.subscribeType(DRAINING_EVENT, (e) => {
            const frameworkId = services?.frameworkId;
            if (frameworkId !== undefined && typeof e.taskId === 'string') drained(frameworkId, e.taskId);
          })
      : undefined,
  );
  try {
    await app.listen({ port, host });
  } catch (e) {
    attached?.stop();
    await master.stop();
    throw e;
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  master.port = bound;
  // DNS before anyone can launch through this master: its zone follows every task from the start.
  let discovery: Discovery | undefined;
  try {
    discovery = await attached?.listen(logger.child({ part: 'dns' }));
  } catch (e) {
    if (dnsOptions?.optional && (e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      logger.warn({ port: dnsOptions.port, err: (e as Error).message }, 'dns-off-port-in-use');
      attached?.stop();
    } else {
      attached?.stop();
      await master.stop();
      await app.close();
      throw e;
    }
  }
  // Only now can frameworks reach this master: their re-subscription grace starts here.
  master.serve();
  await services?.start();
  await jobs?.start();
  frameworksReady = true;
  const reachable = `${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${bound}`;
  const httpsUrl = ca === undefined ? undefined : `https://${reachable}`;
  // Plain HTTP where this process's own clients (on this machine) may still use it.
  const url = httpsUrl !== undefined && tls.mode === 'on' && tls.plain === 'none' ? httpsUrl : `http://${reachable}`;
  return {
    master,
    app,
    url,
    services,
    jobs,
    secrets,
    iam,
    caCertPem: ca?.bundlePem,
    httpsUrl,
    discovery,
    async close() {
      await jobs?.stop();
      await services?.stop();
      await discovery?.close();
      await master.stop();
      await app.close();
    },
  };
}
