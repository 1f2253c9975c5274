/**
 * Cosmos' RPC on the master: every call is a POST whose body and answer carry Cosmos' versioned
 * media types (`application/vnd.dcos.package.<kind>-request+json;charset=utf-8;version=vN`);
 * plain `application/json` is taken too. Errors are Cosmos' `{type, message, data}` with
 * `application/vnd.dcos.package.error+json;charset=utf-8;version=v1`, for every failure of these
 * routes (a body that is not JSON included).
 *
 * Installs reach Marathon through the master's own /v2 routes (fastify inject) with the caller's
 * Authorization header: the app is validated, permission-checked and deployed exactly as a
 * `POST /v2/apps` from that caller would be.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDroverError } from '../errors/errors.ts';
import { parseJsonBody } from '../http/server.ts';
import { Catalog, type MarathonPort } from './catalog.ts';
import { CosmosError } from './errors.ts';
import type { Repositories } from './repositories.ts';

const media = (kind: string, version: string): string => `application/vnd.dcos.${kind}+json;charset=utf-8;version=${version}`;
export const ERROR_MEDIA_TYPE = media('package.error', 'v1');
export const CAPABILITIES_MEDIA_TYPE = media('capabilities', 'v1');
export const COSMOS_BODY_LIMIT = 1024 * 1024;

/** Each RPC: its path, the request kind, and the answer versions it can give (newest first). */
export const COSMOS_RPCS: ReadonlyArray<{ path: string; kind: string; responses: readonly string[]; run: (catalog: Catalog, body: unknown) => Promise<unknown> }> = [
  { path: '/package/search', kind: 'package.search', responses: ['v1'], run: (c, b) => c.search(b) },
  { path: '/package/describe', kind: 'package.describe', responses: ['v3', 'v2'], run: (c, b) => c.describe(b) },
  { path: '/package/list-versions', kind: 'package.list-versions', responses: ['v1'], run: (c, b) => c.listVersions(b) },
  { path: '/package/render', kind: 'package.render', responses: ['v1'], run: (c, b) => c.render(b) },
  { path: '/package/install', kind: 'package.install', responses: ['v2', 'v1'], run: (c, b) => c.install(b) },
  { path: '/package/uninstall', kind: 'package.uninstall', responses: ['v1'], run: (c, b) => c.uninstall(b) },
  { path: '/package/list', kind: 'package.list', responses: ['v1'], run: (c, b) => c.list(b) },
  { path: '/package/repository/list', kind: 'package.repository.list', responses: ['v1'], run: async (c) => ({ repositories: await c.repositories.list() }) },
  {
    path: '/package/repository/add',
    kind: 'package.repository.add',
    responses: ['v1'],
    run: async (c, b) => {
      const o = (b ?? {}) as Record<string, unknown>;
      return { repositories: await c.repositories.add(o['name'], o['uri'], o['index']) };
    },
  },
  {
    path: '/package/repository/delete',
    kind: 'package.repository.delete',
    responses: ['v1'],
    run: async (c, b) => {
      const o = (b ?? {}) as Record<string, unknown>;
      return { repositories: await c.repositories.remove(o['name'], o['uri']) };
    },
  },
  { path: '/service/describe', kind: 'service.describe', responses: ['v1'], run: (c, b) => c.serviceDescribe(b) },
  { path: '/service/update', kind: 'service.update', responses: ['v1'], run: (c, b) => c.serviceUpdate(b) },
];

/** Which answer version to give: the newest the client's Accept names for this kind, else our newest. */
function responseVersion(accept: string | undefined, kind: string, versions: readonly string[]): string | undefined {
  const asked = (accept ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a.toLowerCase().startsWith(`application/vnd.dcos.${kind}-response+json`));
  if (asked.length === 0) return versions[0];
  for (const v of versions) if (asked.some((a) => new RegExp(`;\\s*version=${v}(\\s*;|$)`, 'i').test(a))) return v;
  return undefined;
}

function sendError(reply: FastifyReply, e: unknown): FastifyReply {
  let error: CosmosError;
  if (e instanceof CosmosError) error = e;
  else if (isDroverError(e)) error = new CosmosError(e.status === 413 ? 'RequestTooLarge' : 'JsonParsingError', e.message, Math.min(e.status, 500));
  else if (typeof (e as { statusCode?: unknown })?.statusCode === 'number' && (e as { statusCode: number }).statusCode < 500) {
    const status = (e as { statusCode: number }).statusCode;
    error = new CosmosError(status === 415 ? 'UnsupportedContentType' : status === 413 ? 'RequestTooLarge' : 'MalformedRequest', (e as Error).message, status);
  } else error = new CosmosError('InternalError', 'Internal error', 500);
  return reply.status(error.status).type(ERROR_MEDIA_TYPE).send(JSON.stringify(error.toJSON()));
}

/** The services framework's /v2 routes, called in-process with the caller's credentials. */
export function injectedMarathon(app: FastifyInstance, request: FastifyRequest): MarathonPort {
  // The caller's credentials: its token, or the web UI's login cookie.
  const credentials: Record<string, string> = {};
  if (request.headers.authorization !== undefined) credentials['authorization'] = request.headers.authorization;
  if (request.headers.cookie !== undefined) credentials['cookie'] = request.headers.cookie;
  return {
    async request(method, url, body) {
      const answer = await app.inject({
        method,
        url,
        headers: { ...credentials, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      let parsed: unknown;
      try {
        parsed = answer.body === '' ? undefined : JSON.parse(answer.body);
      } catch {
        parsed = { message: answer.body.slice(0, 1024) };
      }
      return { status: answer.statusCode, body: parsed };
    },
  };
}

export function registerCatalogRoutes(app: FastifyInstance, repositories: Repositories): void {
  // Cosmos' request media types are JSON: the same bounded parser as application/json.
  app.addContentTypeParser(/^application\/vnd\.dcos\.[a-z0-9.-]+\+json/i, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  const errorHandler = (error: unknown, _request: FastifyRequest, reply: FastifyReply) => sendError(reply, error);
  for (const rpc of COSMOS_RPCS) {
    app.post(rpc.path, { bodyLimit: COSMOS_BODY_LIMIT, errorHandler }, async (request, reply) => {
      const version = responseVersion(request.headers.accept, rpc.kind, rpc.responses);
      if (version === undefined) {
        return sendError(
          reply,
          new CosmosError('NotAcceptable', `Acceptable versions of ${rpc.kind}-response: ${rpc.responses.join(', ')}`, 406, { supported: rpc.responses.map((v) => media(`${rpc.kind}-response`, v)) }),
        );
      }
      try {
        const catalog = new Catalog(repositories, injectedMarathon(app, request));
        const result = (await rpc.run(catalog, request.body ?? {})) as Record<string, unknown>;
        // install-response v1 has no notes (Cosmos added them in v2).
        const body = rpc.kind === 'package.install' && version === 'v1' ? { packageName: result['packageName'], packageVersion: result['packageVersion'], appId: result['appId'] } : result;
        return reply
          .status(200)
          .type(media(`${rpc.kind}-response`, version))
          .send(JSON.stringify(body));
      } catch (e) {
        return sendError(reply, e);
      }
    });
  }
  app.get('/capabilities', { errorHandler }, async (_request, reply) =>
    reply
      .status(200)
      .type(CAPABILITIES_MEDIA_TYPE)
      .send(JSON.stringify({ capabilities: [{ name: 'PACKAGE_MANAGEMENT' }] })),
  );
}
