/**
 * The agent's own HTTP API (agent port, 5051 by default): what runs here and the files of its
 * sandboxes, for operators, the web UI and `drover task log`.
 *   GET /ping                     pong
 *   GET /state                    agent id, hostname, resources, attributes, tasks (state, sandbox),
 *                                 in Mesos' shape too (mesos-agent.ts: also /slave(1)/state, /flags,
 *                                 /health, /version, /metrics/snapshot, /containers, POST /api/v1)
 *   GET /files/browse|read|download   Mesos semantics, confined to the work dir (files.ts)
 *   GET /files/follow             a growing file as a chunked stream (file-follow.ts)
 *   POST /tasks/exec              a command inside a running task, streams carried (exec/exec-session.ts)
 *   /images…                      the image store: list, pull, rm, prune (image-routes.ts)
 *   GET /monitor/statistics       each running container's cgroup usage, Mesos' shape (usage-sampler.ts)
 *   GET /metrics                  the same figures as Prometheus series
 */
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { credentialOf } from '../../iam/credentials.ts';
import { createHttpServer } from '../../http/server.ts';
import { type PlainHttp, setServerCertificate, tlsServerFactory } from '../../iam/tls-server.ts';
import type { Logger } from '../../log/index.ts';
import { DroverError } from '../../errors/errors.ts';
import type { FileFollower } from './file-follow.ts';
import { SandboxFiles } from './files.ts';
import { runExecSession, type ExecSpec } from '../exec/exec-session.ts';
import type { GcLimits, LayerStore } from '../../images/layer-store.ts';
import { registerImageRoutes } from './image-routes.ts';
import type { CallerAuthorizer } from './caller-authorizer.ts';
import { appPathOfTask, taskOfSandboxPath } from '../../iam/task-paths.ts';
import { AGENT_EXEC, AGENT_SANDBOX, AGENT_STATE, agentRuleFor } from '../../iam/route-permissions.ts';
import { type MesosAgentView, registerMesosAgentRoutes } from './mesos-agent.ts';
import { NestedSessions } from './nested-sessions.ts';

export interface ExecRequest {
  taskId: string;
  frameworkId?: string;
  argv: string[];
  tty: boolean;
}

export interface AgentHttpOptions {
  host: string;
  port: number;
  /** The work dir: the only tree /files may serve. */
  root: string;
  state(): Record<string, unknown>;
  /** The agent as Mesos shows it (mesos-agent.ts): `/state` in Mesos' shape, `/flags`, `/metrics/snapshot`, `/containers`, `POST /api/v1`. */
  mesos?(): MesosAgentView;
  /** Files under the root never served (the secret files of live tasks). */
  hiddenFiles?(): readonly string[];
  /** Checks the caller of every route but /ping (caller-authorizer.ts); default: everyone may. */
  authorize?: CallerAuthorizer;
  /** Resolves what to run for `task exec`; throws a DroverError (404/409) when it cannot. */
  exec?(request: ExecRequest): Promise<ExecSpec>;
  /**
   * The cluster CA (TLS): the port answers HTTPS too — with the agent's certificate once it has
   * one (`setCertificate`), so the master's relays reach it over mTLS and check it is the agent
   * they expect — and plain HTTP only where `plainHttp` allows it (default loopback: a token sent
   * to the agent from another machine never crosses the network in clear).
   */
  tlsCaPem?: string;
  plainHttp?: PlainHttp;
  /** The agent's image store and its GC limits, for the /images routes. */
  images?: { store: LayerStore; limits(): GcLimits };
  /** The usage sampler's last pass, for /monitor/statistics and /metrics. */
  usage?: { statistics(): readonly unknown[]; prometheus(): string };
  logger: Logger;
}

export interface AgentHttp {
  readonly app: FastifyInstance;
  readonly port: number;
  /** `METHOD url` of every route served (HEAD included), for the permission table's test. */
  readonly routes: readonly string[];
  /** TLS: the certificate (and key) the port presents from now on. */
  /** `caPem`: the CAs trusted from now on (a CA rotation); default the last given, else `tlsCaPem`. */
  setCertificate(certPem: string, keyPem: string, caPem?: string): void;
  close(): Promise<void>;
}

type Query = Record<string, string | string[] | undefined>;

export async function startAgentHttp(options: AgentHttpOptions): Promise<AgentHttp> {
  let trustedCa = options.tlsCaPem;
  const app = createHttpServer({
    logger: options.logger,
    ...(options.tlsCaPem === undefined ? {} : { serverFactory: tlsServerFactory({ clientCaPem: options.tlsCaPem, plain: options.plainHttp ?? 'loopback' }) as never }),
  });
  const files = new SandboxFiles(options.root, () => options.hiddenFiles?.() ?? []);
  // Open follow streams never end by themselves; closing the server ends them first, or close waits forever.
  const followers = new Set<FileFollower>();
  // Mesos' nested container sessions (nested-sessions.ts): killed when the server closes.
  const sessions = new NestedSessions();

  const authorize = options.authorize ?? (async () => undefined);
  const authorization = (request: FastifyRequest): string | undefined => {
    const h = request.headers.authorization;
    if (h !== undefined) return h;
    const credential = credentialOf(request.headers);
    return credential === undefined ? undefined : `token=${credential}`;
  };
  const routes: string[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push(`${method} ${route.url}`);
  });
  // Every route by the one table (src/iam/route-permissions.ts AGENT_ROUTE_PERMISSIONS): a route
  // without an entry is refused; fixed permissions are checked here, a task's by the handler.
  app.addHook('onRequest', async (request) => {
    const url = request.routeOptions.url;
    if (url === undefined) return; // no such route: fastify's 404
    const rule = agentRuleFor(request.method, url);
    if (rule === undefined) throw new DroverError('FORBIDDEN', `No permission is defined for ${request.method} ${url}`);
    if (rule.kind === 'fixed') await authorize(authorization(request), rule.permission.rid, rule.permission.action);
  });
  // Files: read on the sandbox of the task the path names (a path in no task's sandbox: every app's).
  app.addHook('preHandler', async (request) => {
    if (!request.url.startsWith('/files/')) return;
    const path = (request.query as Query)['path'];
    const task = typeof path === 'string' ? taskOfSandboxPath(path) : undefined;
    await authorize(authorization(request), `${AGENT_SANDBOX}:${task === undefined ? '/' : appPathOfTask(task)}`, 'read');
  });

  app.get('/ping', async (_request, reply) => reply.type('text/plain').send('pong'));
  const mesos = options.mesos;
  if (mesos === undefined) app.get('/state', async () => options.state());
  else {
    registerMesosAgentRoutes(
      app,
      {
        view: mesos,
        files,
        // POST /api/v1 is checked per call: the state calls need the agent state permission, the
        // file calls the sandbox's (as /files/*).
        authorizeState: async (request) => authorize(authorization(request), AGENT_STATE, 'read'),
        authorizeSandbox: async (request, path) => {
          const task = taskOfSandboxPath(path);
          await authorize(authorization(request), `${AGENT_SANDBOX}:${task === undefined ? '/' : appPathOfTask(task)}`, 'read');
        },
        ...(options.exec === undefined
          ? {}
          : {
              sessions: {
                store: sessions,
                spec: (taskId: string, frameworkId: string, argv: string[]) => options.exec!({ taskId, frameworkId, argv, tty: false }),
                authorizeExec: async (request: FastifyRequest, taskId: string) => authorize(authorization(request), `${AGENT_EXEC}:${appPathOfTask(taskId)}`, 'create'),
              },
            }),
      },
      options.state,
    );
  }
  app.get('/files/browse', async (request) => files.browse(param(request.query as Query, 'path')));
  app.get('/files/read', async (request) => {
    const query = request.query as Query;
    return files.read(param(query, 'path'), param(query, 'offset'), param(query, 'length'));
  });
  app.get('/files/download', async (request, reply) => {
    const { stream, name, size } = await files.download(param(request.query as Query, 'path'));
    return reply
      .type('application/octet-stream')
      .header('content-length', size)
      .header('content-disposition', `attachment; filename="${name.replace(/["\\\r\n]/g, '_')}"`)
      .send(stream);
  });

  app.get('/files/follow', async (request, reply) => {
    const query = request.query as Query;
    const follower = await files.follow(param(query, 'path'), param(query, 'offset'), param(query, 'timeout'));
    followers.add(follower);
    const done = (): void => {
      follower.stop();
      followers.delete(follower);
    };
    // 'close' on the response fires when the client disconnects as well as when the stream ends.
    reply.raw.on('close', done);
    follower.stream.on('end', done);
    // Hijacked so the headers go out now: a client waits for them before reading, and with
    // reply.send they would wait for the first appended byte, which may never come.
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    reply.raw.flushHeaders();
    pipeline(follower.stream, reply.raw).catch(done);
  });

  const usage = options.usage;
  if (usage !== undefined) {
    app.get('/monitor/statistics', async () => usage.statistics());
    app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(usage.prometheus()));
  }

  if (options.images !== undefined) registerImageRoutes(app, options.images.store, options.images.limits);

  const exec = options.exec;
  if (exec !== undefined) {
    // The body is the command's stdin, streamed: it is handed over unread, not parsed.
    app.register(async (scope) => {
      scope.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null, undefined));
      scope.post('/tasks/exec', async (request, reply) => {
        const query = parseExecQuery(request.query as Query);
        await authorize(authorization(request), `${AGENT_EXEC}:${appPathOfTask(query.taskId)}`, 'create');
        const spec = await exec(query);
        reply.hijack();
        await runExecSession(spec, request.raw, reply.raw);
      });
    });
  }

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    app,
    port,
    routes,
    setCertificate(certPem, keyPem, caPem) {
      if (caPem !== undefined) trustedCa = caPem;
      if (trustedCa !== undefined) setServerCertificate(app.server, { certPem, keyPem, caPem: trustedCa });
    },
    close: async () => {
      for (const follower of followers) follower.finish();
      sessions.close();
      await app.close();
    },
  };
}

/** `task_id`, optional `framework_id`, `argv` (a JSON array of strings, required) and `tty=true|false`. */
function parseExecQuery(query: Query): ExecRequest {
  const taskId = param(query, 'task_id');
  if (taskId === undefined || taskId === '') throw new DroverError('MALFORMED', "'task_id' is required", { details: [{ path: '/task_id', errors: ['required'] }] });
  const rawArgv = param(query, 'argv');
  let argv: unknown;
  try {
    argv = JSON.parse(rawArgv ?? '');
  } catch {
    argv = undefined;
  }
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string') || argv.join('').includes('\0')) {
    throw new DroverError('MALFORMED', "'argv' must be a non-empty JSON array of strings", { details: [{ path: '/argv', errors: ['a non-empty JSON array of strings without NUL bytes'] }] });
  }
  const tty = param(query, 'tty');
  if (tty !== undefined && tty !== 'true' && tty !== 'false') throw new DroverError('MALFORMED', "'tty' must be true or false", { details: [{ path: '/tty', errors: ['true or false'] }] });
  const frameworkId = param(query, 'framework_id');
  return { taskId, argv: argv as string[], tty: tty === 'true', ...(frameworkId === undefined ? {} : { frameworkId }) };
}

/** One query parameter; given twice it is ambiguous, so it is refused. */
function param(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw new DroverError('MALFORMED', `'${name}' is given more than once`);
  return value;
}
