/**
 * The master's HTTP guard: every request passes here before its handler.
 *
 *   onRequest     the route's rule (route-permissions.ts); public → through; else the credential
 *                 (credentials.ts) → a principal (iam.ts), or 401 with DC/OS's
 *                 `WWW-Authenticate: acsjwt` and a Marathon-style `{message}` body
 *   preHandler    (the body is parsed now) the permissions the request needs → allowed, or 403;
 *                 the agent link's binding of agent ids to agent tokens
 *   preSerialization  lists filtered to what the caller may read (`GET /v2/apps` by a user granted
 *                 `/dev` answers only `/dev` apps)
 *   onResponse    the audit line of every mutating call (denials are logged where decided)
 *
 * A route with no entry in the table is refused (403): deny by default.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log/index.ts';
import { credentialOf } from './credentials.ts';
import type { Iam, Principal } from './iam.ts';
import { allows, type Permission } from './permissions.ts';
import { peerIdentity } from './tls-identity.ts';
import { type ClusterLookups, jobPath, MARATHON_SERVICES, METRONOME_JOBS, type ReadFilter, type RouteRequest, type RouteRule, ruleFor } from './route-permissions.ts';

export interface GuardOptions {
  iam: Iam;
  lookups: ClusterLookups;
  /** The audit log (a child logger `{audit: true}`). */
  audit: Logger;
  /**
   * Is this agent id revoked (marked gone: MARK_AGENT_GONE, or removed for good)? Its certificate
   * and its token are refused on every route from then on — the master's revocation list is its
   * registry of gone agents, which it keeps for good (no CRL to distribute: only the master checks).
   */
  revokedAgent?: (agentId: string) => boolean;
}

interface Decided {
  principal?: Principal;
  /** The request came over TLS (the agent link then takes an agent id only from a certificate). */
  tls?: boolean;
  /** The principal is the agent of the client certificate, not of a token. */
  certified?: boolean;
  rule?: RouteRule;
  needed?: Permission[];
}

const DECIDED = Symbol('drover-iam');
type Guarded = FastifyRequest & { [DECIDED]?: Decided };

export function unauthorized(message: string): { status: 401; body: Record<string, unknown> } {
  return { status: 401, body: { message, code: 'DROVER_ERR_UNAUTHORIZED', title: 'Unauthorized', description: message } };
}

/** The principal the guard found for a request (undefined on public routes or with auth off). */
export function principalOf(request: FastifyRequest): Principal | undefined {
  return (request as Guarded)[DECIDED]?.principal;
}

const ROUTES = new WeakMap<FastifyInstance, Array<{ method: string; url: string }>>();

/** Every route registered on `app` after its guard was installed (the table test enumerates them). */
export function guardedRoutes(app: FastifyInstance): ReadonlyArray<{ method: string; url: string }> {
  return ROUTES.get(app) ?? [];
}

export function installGuard(app: FastifyInstance, options: GuardOptions): void {
  const { iam, lookups, audit } = options;
  const revoked = options.revokedAgent ?? (() => false);
  const routes: Array<{ method: string; url: string }> = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routes.push({ method, url: route.url });
  });

  const refuse = async (reply: FastifyReply, status: 401 | 403, message: string): Promise<void> => {
    if (status === 401) {
      await reply.code(401).header('www-authenticate', 'acsjwt').type('application/json').send(unauthorized(message).body);
      return;
    }
    await reply.code(403).type('application/json').send({ message, code: 'DROVER_ERR_FORBIDDEN', details: [] });
  };

  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url;
    if (url === undefined) return; // no route: the 404 handler answers
    const rule = ruleFor(request.method, url);
    const decided: Decided = rule === undefined ? {} : { rule };
    (request as Guarded)[DECIDED] = decided;
    if (rule === undefined) {
      audit.warn({ who: undefined, method: request.method, route: url, decision: 'denied', reason: 'no permission entry' }, 'audit');
      return refuse(reply, 403, `${request.method} ${url} has no entry in the permission table`);
    }
    // A client certificate presented but not trusted (another CA, expired) is refused outright.
    const peer = peerIdentity(request.raw.socket);
    if (peer.kind === 'untrusted') {
      audit.warn({ who: undefined, method: request.method, route: url, decision: 'denied', reason: `untrusted client certificate: ${peer.reason}` }, 'audit');
      return refuse(reply, 401, `The client certificate is not trusted (${peer.reason}); an agent's certificate comes from this cluster's CA at registration`);
    }
    if (peer.kind === 'agent' && revoked(peer.agentId)) {
      audit.warn({ who: `agent:${peer.agentId}`, method: request.method, route: url, decision: 'denied', reason: 'revoked client certificate' }, 'audit');
      return refuse(reply, 401, `The certificate of agent ${peer.agentId} is revoked (the agent was marked gone); join again with the bootstrap token`);
    }
    if (peer.kind !== 'plain') decided.tls = true;
    if (rule.kind === 'public') return;
    // mTLS: on the agent link, the agent of the certificate, whatever token comes with it;
    // elsewhere a token sent with it speaks (the agent asking the master about a caller with the
    // caller's delegated token), and without one the agent may do there what agents may: nothing.
    if (peer.kind === 'agent' && (rule.kind === 'agent' || credentialOf(request.headers) === undefined)) {
      decided.principal = { kind: 'agent', uid: `agent:${peer.agentId}`, agentId: peer.agentId };
      decided.certified = true;
      return;
    }
    const credential = credentialOf(request.headers);
    if (credential === undefined) {
      audit.info({ who: undefined, method: request.method, route: url, decision: 'denied', reason: 'no credentials' }, 'audit');
      return refuse(reply, 401, 'Authentication required: send Authorization: token=<token> (or Bearer <token>); get one with POST /acs/api/v1/auth/login');
    }
    const principal = await iam.authenticate(credential);
    if (principal?.kind === 'agent' && revoked(principal.agentId)) {
      audit.warn({ who: principal.uid, method: request.method, route: url, decision: 'denied', reason: 'revoked agent token' }, 'audit');
      return refuse(reply, 401, `The token of agent ${principal.agentId} is revoked (the agent was marked gone)`);
    }
    if (principal === undefined) {
      audit.info({ who: undefined, method: request.method, route: url, decision: 'denied', reason: 'invalid or expired token' }, 'audit');
      return refuse(reply, 401, 'The token is invalid or has expired; log in again');
    }
    decided.principal = principal;
  });

  app.addHook('preHandler', async (request, reply) => {
    const decided = (request as Guarded)[DECIDED];
    if (decided?.rule === undefined || decided.rule.kind === 'public' || decided.principal === undefined) return;
    const { rule, principal } = decided;
    const url = request.routeOptions.url ?? '';
    const deny = (reason: string, resource?: string): Promise<void> => {
      audit.warn({ who: principal.uid, method: request.method, route: url, resource, decision: 'denied', reason }, 'audit');
      return refuse(reply, 403, reason);
    };
    if (rule.kind === 'authenticated') return;
    if (principal.kind === 'delegated') return deny('a delegated token may only ask about sandbox or exec access');
    if (rule.kind === 'agent') {
      // Over TLS an agent id is taken from the agent's certificate only: a token naming an agent
      // (which a rogue process could have copied) does not prove it there.
      if (decided.tls === true && principal.kind === 'agent' && decided.certified !== true) {
        return deny(`over TLS agent ${principal.agentId} must present its certificate (a token naming an agent is not accepted)`);
      }
      const why =
        url === '/api/v1/agent/secrets'
          ? agentSecretsRefusal(principal, request.body)
          : url === '/api/v1/agent/usage'
            ? agentOwnCallRefusal(principal, request.body, 'usage reports')
            : agentLinkRefusal(principal, request.body);
      if (why !== undefined) return deny(why);
      return;
    }
    // Agents and the agent bootstrap token act on the agent link only.
    if (principal.kind === 'agent' || principal.kind === 'agent-bootstrap') return deny(`${principal.uid} may only use the agent API`);
    // Mesos: a framework's FrameworkInfo.principal must be the principal it authenticated as.
    const claimed = (request.body as { subscribe?: { framework_info?: { principal?: unknown } } } | null)?.subscribe?.framework_info?.principal;
    if (url === '/api/v1/scheduler' && principal.kind === 'account' && typeof claimed === 'string' && claimed !== principal.uid) {
      return deny(`${principal.uid} may not subscribe as principal ${claimed.slice(0, 100)}`);
    }
    const needed = rule.need(routeRequest(request), lookups);
    decided.needed = needed;
    const decision = iam.authorize(principal, needed);
    if (!decision.allowed) return deny(`${principal.uid} may not ${decision.missing.action} ${decision.missing.rid}`, decision.missing.rid);
    // A plain-text task list cannot be filtered: it needs read on every app.
    if (rule.filter === 'tasks' && String(request.headers.accept ?? '').includes('text/plain') && !iam.authorize(principal, [{ rid: `${MARATHON_SERVICES}:/`, action: 'read' }]).allowed) {
      return deny(`${principal.uid} may not read ${MARATHON_SERVICES}:/ (needed for the text/plain task list)`, `${MARATHON_SERVICES}:/`);
    }
  });

  app.addHook('preSerialization', async (request, _reply, payload) => {
    const decided = (request as Guarded)[DECIDED];
    const filter = decided?.rule?.kind === 'permissions' ? decided.rule.filter : undefined;
    if (filter === undefined || decided?.principal === undefined) return payload;
    const grants = iam.grantsOf(decided.principal);
    return filterList(filter, payload, grants);
  });

  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    const decided = (request as Guarded)[DECIDED];
    if (decided?.principal === undefined || reply.statusCode === 401 || reply.statusCode === 403) return;
    // The agent link's heartbeats and status updates are the cluster's pulse, not operator actions.
    if (decided.rule?.kind === 'agent' && (request.body as { type?: unknown } | null)?.type !== 'REGISTER') return;
    audit.info(
      {
        who: decided.principal.uid,
        method: request.method,
        route: request.routeOptions.url,
        ...(callType(request.body) ? { call: callType(request.body) } : {}),
        resources: decided.needed?.map((p) => `${p.action} ${p.rid}`),
        decision: 'allowed',
        status: reply.statusCode,
      },
      'audit',
    );
  });
}

function callType(body: unknown): string | undefined {
  const type = (body as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type.slice(0, 64) : undefined;
}

function routeRequest(request: FastifyRequest): RouteRequest {
  return {
    params: (request.params ?? {}) as Record<string, string | undefined>,
    query: (request.query ?? {}) as Record<string, unknown>,
    body: request.body,
    headers: request.headers,
  };
}

/**
 * The agent link: REGISTER for an agent id needs that agent's own token (issued at its first
 * registration); a new agent (no id) needs the agent bootstrap token (or an agent or admin
 * token); every other call must come from the agent it names.
 */
export function agentLinkRefusal(principal: Principal, body: unknown): string | undefined {
  const call = (body ?? {}) as { type?: unknown; agent_id?: { value?: unknown }; register?: { agent_info?: { id?: { value?: unknown } }; rebooted_agent_id?: { value?: unknown } } };
  // Anything else is not a call: the handler's validation answers 400 with the reason.
  if (call.type !== 'REGISTER' && call.type !== 'HEARTBEAT' && call.type !== 'UPDATE') return undefined;
  // "My machine rebooted, I was agent X" has X removed as gone: only X's own token may say it.
  const claimed = call.type === 'REGISTER' ? (call.register?.agent_info?.id?.value ?? call.agent_id?.value ?? call.register?.rebooted_agent_id?.value) : call.agent_id?.value;
  if (principal.kind === 'agent') {
    if (claimed === undefined && call.type === 'REGISTER') return undefined;
    return claimed === principal.agentId ? undefined : `an agent token for ${principal.agentId} cannot act as agent ${String(claimed).slice(0, 100)}`;
  }
  if (principal.kind === 'agent-bootstrap' || principal.kind === 'admin') {
    if (call.type === 'REGISTER' && claimed === undefined) return undefined;
    return `${principal.uid} may register a new agent only; agent ${String(claimed).slice(0, 100)} must present its own token`;
  }
  return `${principal.uid} is not an agent`;
}

/** A call only an agent makes about itself (its usage reports): its own token, naming its own id. */
export function agentOwnCallRefusal(principal: Principal, body: unknown, what: string): string | undefined {
  if (principal.kind !== 'agent') return `${principal.uid} is not an agent: only an agent sends ${what}`;
  const claimed = (body as { agent_id?: { value?: unknown } } | null)?.agent_id?.value;
  return claimed === principal.agentId ? undefined : `an agent token for ${principal.agentId} cannot send the ${what} of agent ${String(claimed).slice(0, 100)}`;
}

/**
 * The secrets of a task being launched go only to the agent itself (its own token, naming the
 * agent id the call names); the master then answers only for a live task on that agent.
 */
export function agentSecretsRefusal(principal: Principal, body: unknown): string | undefined {
  if (principal.kind !== 'agent') return `${principal.uid} is not an agent: task secrets go only to the agent that launches the task`;
  const claimed = (body as { agent_id?: { value?: unknown } } | null)?.agent_id?.value;
  return claimed === principal.agentId ? undefined : `an agent token for ${principal.agentId} cannot ask for the secrets of agent ${String(claimed).slice(0, 100)}`;
}

/** Only the entries of a list answer the caller may read. */
export function filterList(filter: ReadFilter, payload: unknown, grants: readonly Permission[]): unknown {
  const canApp = (id: unknown): boolean => typeof id === 'string' && safeAllows(grants, MARATHON_SERVICES, id);
  const canJob = (id: unknown): boolean => typeof id === 'string' && safeAllows(grants, METRONOME_JOBS, safeJobPath(id));
  const p = payload as Record<string, unknown>;
  switch (filter) {
    case 'apps':
      return Array.isArray(p?.['apps']) ? { ...p, apps: (p['apps'] as Array<{ id?: unknown }>).filter((a) => canApp(a.id)) } : payload;
    case 'pods':
      // A list of pods or of pod statuses (both carry the pod's `id`). One pod's answers (the pod,
      // its status, its list of version strings) had its read permission checked already.
      return Array.isArray(payload) ? (payload as unknown[]).filter((x) => typeof x !== 'object' || x === null || canApp((x as { id?: unknown }).id)) : payload;
    case 'tasks':
      return Array.isArray(p?.['tasks']) ? { ...p, tasks: (p['tasks'] as Array<{ appId?: unknown }>).filter((t) => canApp(t.appId)) } : payload;
    case 'queue':
      // An app's entry or a pod's (`pod`, as Marathon lists pods): both under the service's permission.
      return Array.isArray(p?.['queue']) ? { ...p, queue: (p['queue'] as Array<{ app?: { id?: unknown }; pod?: { id?: unknown } }>).filter((q) => canApp(q.app?.id ?? q.pod?.id)) } : payload;
    case 'deployments':
      return Array.isArray(payload) ? (payload as Array<{ affectedApps?: unknown }>).filter((d) => Array.isArray(d.affectedApps) && d.affectedApps.every(canApp)) : payload;
    case 'groups':
      return pruneGroup(payload, canApp) ?? { ...(p ?? {}), apps: [], groups: [] };
    case 'jobs':
      return Array.isArray(payload) ? (payload as Array<{ id?: unknown }>).filter((j) => canJob(j.id)) : payload;
    case 'jobs-queue':
      return Array.isArray(payload) ? (payload as Array<{ jobId?: unknown }>).filter((j) => canJob(j.jobId)) : payload;
  }
}

function safeAllows(grants: readonly Permission[], base: string, path: string): boolean {
  try {
    return allows(grants, { rid: `${base}:${path}`, action: 'read' });
  } catch {
    return false;
  }
}

function safeJobPath(id: string): string {
  try {
    return jobPath(id);
  } catch {
    return '/';
  }
}

/** A group with only readable apps, and only subgroups that keep something (or are readable). */
function pruneGroup(group: unknown, canApp: (id: unknown) => boolean, depth = 0): Record<string, unknown> | undefined {
  if (typeof group !== 'object' || group === null || depth > 64) return undefined;
  const g = group as Record<string, unknown>;
  const apps = Array.isArray(g['apps']) ? (g['apps'] as Array<{ id?: unknown }>).filter((a) => canApp(a.id)) : [];
  const pods = Array.isArray(g['pods']) ? (g['pods'] as Array<{ id?: unknown }>).filter((p) => canApp(p.id)) : [];
  const groups = Array.isArray(g['groups']) ? (g['groups'] as unknown[]).map((c) => pruneGroup(c, canApp, depth + 1)).filter((c) => c !== undefined) : [];
  if (apps.length === 0 && pods.length === 0 && groups.length === 0 && !canApp(g['id']) && depth > 0) return undefined;
  return { ...g, apps, pods, groups };
}
