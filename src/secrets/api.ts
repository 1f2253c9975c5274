/**
 * DC/OS' secrets API on the master, `default` store only:
 *
 *   PUT    /secrets/v1/secret/default/{path}   {"value": "…"}   201; 409 when it exists     dcos:secrets:default:/{path} create
 *   PATCH  /secrets/v1/secret/default/{path}   {"value": "…"}   204; 404 when it does not   dcos:secrets:default:/{path} update
 *   GET    /secrets/v1/secret/default/{path}                    200 {"value": "…"}          dcos:secrets:default:/{path} read
 *   DELETE /secrets/v1/secret/default/{path}                    204                          dcos:secrets:default:/{path} delete
 *   GET    /secrets/v1/secret/default/{dir}?list=true           200 {"array": [relative paths]}  dcos:secrets:list:default:/{dir} read
 *
 * `SECRET_ROUTES` lists them with the permission each needs (for the permissions table). Values are
 * text (JSON strings); nothing here logs a body.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DroverError } from '../errors/errors.ts';
import { canonicalSecretPath, secretPathProblem } from '../protocol/mesos/secrets.ts';
import { MAX_SECRET_BYTES, type SecretStore } from './secret-store.ts';

export const SECRETS_API_PREFIX = '/secrets/v1/secret/default';

export interface SecretRoute {
  method: 'GET' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** `{path}` is the secret's path, e.g. `dcos:secrets:default:/dev/db-password`. */
  permission: string;
  action: 'create' | 'read' | 'update' | 'delete';
}

export const SECRET_ROUTES: readonly SecretRoute[] = [
  { method: 'PUT', url: `${SECRETS_API_PREFIX}/*`, permission: 'dcos:secrets:default:{path}', action: 'create' },
  { method: 'PATCH', url: `${SECRETS_API_PREFIX}/*`, permission: 'dcos:secrets:default:{path}', action: 'update' },
  { method: 'GET', url: `${SECRETS_API_PREFIX}/*`, permission: 'dcos:secrets:default:{path}', action: 'read' },
  { method: 'DELETE', url: `${SECRETS_API_PREFIX}/*`, permission: 'dcos:secrets:default:{path}', action: 'delete' },
  { method: 'GET', url: `${SECRETS_API_PREFIX}/*?list=true`, permission: 'dcos:secrets:list:default:{path}', action: 'read' },
];

export function registerSecretsRoutes(app: FastifyInstance, secrets: SecretStore): void {
  const bodyLimit = MAX_SECRET_BYTES * 2;
  app.put(`${SECRETS_API_PREFIX}/*`, { bodyLimit }, async (request, reply) => {
    await secrets.create(pathOf(request), bodyValue(request.body));
    return reply.status(201).send();
  });
  app.patch(`${SECRETS_API_PREFIX}/*`, { bodyLimit }, async (request, reply) => {
    await secrets.update(pathOf(request), bodyValue(request.body));
    return reply.status(204).send();
  });
  app.get(`${SECRETS_API_PREFIX}/*`, async (request) => {
    const query = request.query as Record<string, unknown>;
    if (query['list'] === 'true') return { array: await secrets.list(pathOf(request, true)) };
    const path = pathOf(request);
    const value = await secrets.get(path);
    if (value === undefined) throw new DroverError('NOT_FOUND', `Secret ${path} does not exist`);
    return { value: value.toString('utf8') };
  });
  // Listing the whole store: `GET /secrets/v1/secret/default/?list=true` routes here too.
  app.delete(`${SECRETS_API_PREFIX}/*`, async (request, reply) => {
    await secrets.delete(pathOf(request));
    return reply.status(204).send();
  });
}

/** The secret path of a request: the URL's wildcard, checked (400 with the reason). */
function pathOf(request: FastifyRequest, directory = false): string {
  const raw = (request.params as Record<string, string | undefined>)['*'] ?? '';
  const trimmed = directory ? raw.replace(/\/+$/, '') : raw;
  if (directory && trimmed === '') return '/';
  const problem = secretPathProblem(trimmed);
  if (problem !== undefined) throw new DroverError('MALFORMED', `Invalid secret path: ${problem}`, { details: [{ path: '/path', errors: [problem] }] });
  return canonicalSecretPath(trimmed);
}

function bodyValue(body: unknown): Buffer {
  const value = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)['value'] : undefined;
  if (typeof value !== 'string') throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/value', errors: ['is required and must be a string'] }] });
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/value', errors: [`at most ${MAX_SECRET_BYTES} bytes`] }] });
  return Buffer.from(value, 'utf8');
}
