/**
 * DC/OS's IAM API (`/acs/api/v1`), the part Drover serves:
 *   POST /auth/login                 {uid, password} | {uid, token: RS256 service login token} → {token}
 *                                    (also sets the UI's HttpOnly cookie when `?cookie=true`)
 *   POST /authorize                  {rid, action} → {allowed}: may the caller do it? (agents ask
 *                                    this for the caller of their exec and files APIs)
 *   GET|PUT|PATCH|DELETE /users/:uid {description, password} (user) | {description, public_key} (service account)
 *   GET /groups, PUT|DELETE /groups/:gid, PUT|DELETE /groups/:gid/users/:uid
 *   GET /acls, PUT|DELETE /acls/:rid/users/:uid/:action, …/groups/:gid/:action
 * Every body is checked; a bad one is a 4xx with the path and reason and changes nothing. Who may
 * call what is in route-permissions.ts.
 */
import type { FastifyInstance } from 'fastify';
import { DroverError } from '../errors/errors.ts';
import type { Account } from './directory.ts';
import { checkId } from './directory.ts';
import { AUTH_COOKIE } from './credentials.ts';
import { principalOf } from './guard.ts';
import type { Iam } from './iam.ts';
import { type Action, canonicalRid, isAction } from './permissions.ts';
import { hashPassword, MAX_SECRET_LENGTH, passwordMatches } from './secrets.ts';
import { checkPublicKey, DEFAULT_TOKEN_TTL_SECONDS, verifyServiceLogin } from './tokens.ts';

type Body = Record<string, unknown>;

function objectBody(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('/', 'expected a JSON object');
  return body as Body;
}

function invalid(path: string, error: string): DroverError {
  return new DroverError('VALIDATION', 'Object is not valid', { details: [{ path, errors: [error] }] });
}

function optionalString(body: Body, field: string, max: number): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max) throw invalid(`/${field}`, `must be a string of at most ${max} characters`);
  return v;
}

function action(raw: string): Action {
  if (!isAction(raw)) throw invalid('/action', 'one of create, read, update, delete, full');
  return raw;
}

function publicAccount(a: Account): Record<string, unknown> {
  return { uid: a.uid, description: a.description, is_service: a.kind === 'service', ...(a.publicKey ? { public_key: a.publicKey } : {}) };
}

export interface AcsOptions {
  /** Lifetime of tokens from login (default DC/OS's 5 days). */
  tokenTtlSeconds?: number;
}

export function registerAcsRoutes(app: FastifyInstance, iam: Iam, options: AcsOptions = {}): void {
  const dir = iam.directory;
  const ttl = options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;

  app.post('/acs/api/v1/auth/login', async (request, reply) => {
    const body = objectBody(request.body);
    const uid = optionalString(body, 'uid', 96);
    const password = optionalString(body, 'password', MAX_SECRET_LENGTH);
    const token = optionalString(body, 'token', MAX_SECRET_LENGTH);
    if (uid === undefined) throw invalid('/uid', 'is required');
    if ((password === undefined) === (token === undefined)) throw invalid('/', "give exactly one of 'password' and 'token'");
    const account = dir.accounts.get(uid);
    const ok =
      account !== undefined &&
      (password !== undefined
        ? account.passwordHash !== undefined && (await passwordMatches(password, account.passwordHash))
        : account.publicKey !== undefined && token !== undefined && (await verifyServiceLogin(token, uid, account.publicKey)));
    if (!ok) {
      return reply
        .code(401)
        .header('www-authenticate', 'acsjwt')
        .send({ message: 'Invalid credentials', code: 'DROVER_ERR_UNAUTHORIZED', title: 'Unauthorized', description: 'Invalid uid, password or login token' });
    }
    const issued = await iam.tokens.issue({ uid }, ttl);
    if ((request.query as Record<string, unknown>)['cookie'] === 'true') {
      void reply.header('set-cookie', `${AUTH_COOKIE}=${issued}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${ttl}`);
    }
    return { token: issued };
  });

  app.post('/acs/api/v1/authorize', async (request) => {
    const body = objectBody(request.body);
    const rid = optionalString(body, 'rid', 1024);
    const act = optionalString(body, 'action', 16);
    if (rid === undefined) throw invalid('/rid', 'is required');
    const principal = principalOf(request);
    if (principal === undefined) return { allowed: true, uid: null };
    return { allowed: iam.authorize(principal, [{ rid: canonicalRid(rid), action: action(act ?? 'read') }]).allowed, uid: principal.uid };
  });

  app.get('/acs/api/v1/users', async () => ({ array: [...dir.accounts.values()].map(publicAccount) }));
  app.get('/acs/api/v1/users/:uid', async (request) => {
    const a = dir.accounts.get((request.params as { uid: string }).uid);
    if (!a) throw new DroverError('NOT_FOUND', 'User not found');
    return publicAccount(a);
  });
  const putUser = (replace: boolean) => async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const uid = checkId((request.params as { uid: string }).uid, 'uid');
    const body = objectBody(request.body);
    const existing = dir.accounts.get(uid);
    if (replace && existing) return reply.code(409).send({ message: `User '${uid}' already exists`, code: 'DROVER_ERR_CONFLICT', details: [] });
    if (!replace && !existing) throw new DroverError('NOT_FOUND', 'User not found');
    const description = optionalString(body, 'description', 512);
    const password = optionalString(body, 'password', MAX_SECRET_LENGTH);
    const publicKey = optionalString(body, 'public_key', 8192);
    if (password !== undefined && publicKey !== undefined) throw invalid('/', "a user has a 'password', a service account a 'public_key': not both");
    if (replace && password === undefined && publicKey === undefined) throw invalid('/password', "a user needs a 'password' (or a service account a 'public_key')");
    if (password !== undefined && password.length < 8) throw invalid('/password', 'at least 8 characters');
    if (publicKey !== undefined) await checkPublicKey(publicKey);
    const kind = existing?.kind ?? (publicKey !== undefined ? 'service' : 'user');
    if (existing && ((kind === 'user' && publicKey !== undefined) || (kind === 'service' && password !== undefined)))
      throw invalid('/', `'${uid}' is a ${kind === 'user' ? 'user' : 'service account'}`);
    const account: Account = {
      uid,
      kind,
      description: description ?? existing?.description ?? '',
      ...(password !== undefined ? { passwordHash: await hashPassword(password) } : existing?.passwordHash ? { passwordHash: existing.passwordHash } : {}),
      ...(publicKey !== undefined ? { publicKey } : existing?.publicKey ? { publicKey: existing.publicKey } : {}),
    };
    await dir.putAccount(account);
    return reply.code(replace ? 201 : 204).send();
  };
  app.put('/acs/api/v1/users/:uid', putUser(true));
  app.patch('/acs/api/v1/users/:uid', putUser(false));
  app.delete('/acs/api/v1/users/:uid', async (request, reply) => {
    if (!(await dir.deleteAccount((request.params as { uid: string }).uid))) throw new DroverError('NOT_FOUND', 'User not found');
    return reply.code(204).send();
  });

  app.get('/acs/api/v1/groups', async () => ({ array: [...dir.groups.values()] }));
  app.put('/acs/api/v1/groups/:gid', async (request, reply) => {
    const gid = checkId((request.params as { gid: string }).gid, 'gid');
    const description = optionalString(objectBody(request.body ?? {}), 'description', 512) ?? '';
    if (dir.groups.has(gid)) return reply.code(409).send({ message: `Group '${gid}' already exists`, code: 'DROVER_ERR_CONFLICT', details: [] });
    await dir.putGroup({ gid, description, members: [] });
    return reply.code(201).send();
  });
  app.delete('/acs/api/v1/groups/:gid', async (request, reply) => {
    if (!(await dir.deleteGroup((request.params as { gid: string }).gid))) throw new DroverError('NOT_FOUND', 'Group not found');
    return reply.code(204).send();
  });
  app.put('/acs/api/v1/groups/:gid/users/:uid', async (request, reply) => {
    const { gid, uid } = request.params as { gid: string; uid: string };
    const group = dir.groups.get(gid);
    if (!group) throw new DroverError('NOT_FOUND', 'Group not found');
    if (!dir.accounts.has(uid)) throw new DroverError('NOT_FOUND', 'User not found');
    if (!group.members.includes(uid)) await dir.putGroup({ ...group, members: [...group.members, uid].sort() });
    return reply.code(204).send();
  });
  app.delete('/acs/api/v1/groups/:gid/users/:uid', async (request, reply) => {
    const { gid, uid } = request.params as { gid: string; uid: string };
    const group = dir.groups.get(gid);
    if (!group || !group.members.includes(uid)) throw new DroverError('NOT_FOUND', 'Membership not found');
    await dir.putGroup({ ...group, members: group.members.filter((m) => m !== uid) });
    return reply.code(204).send();
  });

  app.get('/acs/api/v1/acls', async () => ({ array: [...dir.acls.values()] }));
  const grantRoute = (to: 'users' | 'groups') => async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const params = request.params as { rid: string; uid?: string; gid?: string; action: string };
    // DC/OS clients send the rid's slashes encoded twice (`%252F`): fastify decoded once.
    params.rid = params.rid.replace(/%2F/gi, '/');
    const id = to === 'users' ? (params.uid ?? '') : (params.gid ?? '');
    if (to === 'users' ? !dir.accounts.has(id) : !dir.groups.has(id)) throw new DroverError('NOT_FOUND', `${to === 'users' ? 'User' : 'Group'} not found`);
    if (request.method === 'PUT') {
      await dir.grant(params.rid, to, id, action(params.action));
      return reply.code(204).send();
    }
    if (!(await dir.revoke(params.rid, to, id, action(params.action)))) throw new DroverError('NOT_FOUND', 'Grant not found');
    return reply.code(204).send();
  };
  app.put('/acs/api/v1/acls/:rid/users/:uid/:action', grantRoute('users'));
  app.delete('/acs/api/v1/acls/:rid/users/:uid/:action', grantRoute('users'));
  app.put('/acs/api/v1/acls/:rid/groups/:gid/:action', grantRoute('groups'));
  app.delete('/acs/api/v1/acls/:rid/groups/:gid/:action', grantRoute('groups'));
}
