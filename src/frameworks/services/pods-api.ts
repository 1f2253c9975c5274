/**
 * Marathon's `/v2/pods` (m2-anchors §4a) over the pods of the services framework (pods.ts):
 *
 * Every change opens a deployment (`Marathon-Deployment-Id`; StartPod, ScalePod, RestartPod,
 * StopPod in /v2/deployments) and is refused with 409 while another one holds the pod, unless
 * `?force=true`.
 *
 *   POST   /v2/pods                         create (201, the pod)
 *   GET    /v2/pods                         every pod (HEAD: the capability probe)
 *   GET    /v2/pods/::status                every pod's status
 *   GET    /v2/pods/{id}                    the pod
 *   PUT    /v2/pods/{id}                    create or update (scale, or a rolling replace)
 *   DELETE /v2/pods/{id}                    remove it; its instances are killed (202)
 *   GET    /v2/pods/{id}::status            PodStatus
 *   GET    /v2/pods/{id}::versions[/{v}]    stored versions / one of them
 *   DELETE /v2/pods/{id}::instances         body: instance ids; kills them (they are replaced)
 *   DELETE /v2/pods/{id}::instances/{iid}   kills one
 *
 * `{id}` and the `::` suffix share one wildcard (an id is a path), split here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DroverError } from '../../errors/errors.ts';
import { normalizeId } from './app-schema.ts';
import { guarded } from './conflict.ts';
import { parsePod, podRoleErrors, type Pod } from './pod-schema.ts';
import type { ServicesFramework } from './services.ts';

const INSTANCE_ID = /^(.+)\.(instance-|marathon-)([^.]+)$/;

/** `/v2/pods/<rest>` → pod id and the `::` action (with its argument). */
export function splitPodPath(rest: string): { id: string; action?: string; arg?: string } {
  const at = rest.indexOf('::');
  const rawId = at < 0 ? rest : rest.slice(0, at);
  const tail = at < 0 ? undefined : rest.slice(at + 2);
  const slash = tail?.indexOf('/') ?? -1;
  const action = tail === undefined ? undefined : slash < 0 ? tail : tail.slice(0, slash);
  const arg = tail === undefined || slash < 0 ? undefined : tail.slice(slash + 1);
  return { id: rawId.replace(/\/$/, ''), ...(action === undefined ? {} : { action }), ...(arg === undefined ? {} : { arg }) };
}

/** `?NAME=true` (or a bare `?NAME`). */
function flag(request: FastifyRequest, name: string): boolean {
  const q = request.query as Record<string, unknown> | undefined;
  return q?.[name] === 'true' || q?.[name] === '';
}

/** `?force=true`: cancel the pod's deployment in the way (Marathon's). */
const force = (request: FastifyRequest): boolean => flag(request, 'force');

function podId(raw: string): string {
  const n = normalizeId(raw);
  if (typeof n !== 'string') throw new DroverError('VALIDATION', 'Invalid pod id', { details: [{ path: '/id', errors: [n.error] }] });
  return n;
}

export function registerPodRoutes(app: FastifyInstance, services: ServicesFramework): void {
  const pods = services.pods;
  const now = (): Date => new Date(services.now());
  /** The pod, if its role and accepted roles are the framework's (else 422 with their paths). */
  const withRoles = (pod: Pod): Pod => {
    const details = podRoleErrors(pod, services.roles);
    if (details.length > 0) throw new DroverError('VALIDATION', 'Object is not valid', { details });
    return pod;
  };
  const known = (id: string): Pod => {
    const pod = pods.pods.get(id);
    if (!pod) throw new DroverError('NOT_FOUND', `Pod '${id}' does not exist`);
    return pod;
  };

  app.post('/v2/pods', async (request, reply) =>
    guarded(reply, async () => {
      const pod = withRoles(parsePod(request.body, now()));
      const { pod: stored, deployment } = await pods.put(pod, { create: true, force: force(request) });
      services.events.publish('api_post_event', { clientIp: request.ip, uri: '/v2/pods', podDefinition: stored });
      return reply.status(201).header('Location', `/v2/pods${stored.id}`).header('Marathon-Deployment-Id', deployment.id).send(stored);
    }),
  );

  app.get('/v2/pods', async () => [...pods.pods.values()]);

  app.get('/v2/pods/*', async (request: FastifyRequest) => {
    const rest = (request.params as { '*': string })['*'];
    const { id, action, arg } = splitPodPath(rest);
    if (id === '' && action === 'status') return [...pods.pods.values()].map((p) => pods.status(p));
    const pod = known(podId(id));
    if (action === undefined) return pod;
    if (action === 'status') return pods.status(pod);
    if (action === 'versions') {
      const versions = await pods.versions(pod.id);
      if (arg === undefined) return versions.map((v) => v.version);
      const found = versions.find((v) => v.version === arg);
      if (!found) throw new DroverError('NOT_FOUND', `Pod '${pod.id}' has no version ${arg.slice(0, 64)}`);
      return found;
    }
    throw new DroverError('NOT_FOUND', `Unknown pod resource ::${action.slice(0, 64)}`);
  });

  app.put('/v2/pods/*', async (request, reply: FastifyReply) =>
    guarded(reply, async () => {
      const { id, action } = splitPodPath((request.params as { '*': string })['*']);
      if (action !== undefined) throw new DroverError('NOT_FOUND', `Unknown pod resource ::${action.slice(0, 64)}`);
      const path = podId(id);
      const body = request.body as { id?: unknown } | null;
      if (typeof body === 'object' && body !== null && body.id !== undefined && (typeof body.id !== 'string' || normalizeId(body.id) !== path)) {
        throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/id', errors: [`must be the pod id of the path (${path})`] }] });
      }
      const pod = withRoles(parsePod(request.body, now(), path));
      const { pod: stored, created, deployment } = await pods.put(pod, { force: force(request) });
      services.events.publish('api_put_event', { clientIp: request.ip, uri: `/v2/pods${path}`, podDefinition: stored });
      return reply
        .status(created ? 201 : 200)
        .header('Marathon-Deployment-Id', deployment.id)
        .send(stored);
    }),
  );

  app.delete('/v2/pods/*', async (request, reply) =>
    guarded(reply, async () => {
      const { id, action, arg } = splitPodPath((request.params as { '*': string })['*']);
      const pod = known(podId(id));
      if (action === undefined) {
        const deployment = await pods.remove(pod.id, { force: force(request) });
        return reply.status(202).header('Marathon-Deployment-Id', deployment.id).send({});
      }
      if (action !== 'instances') throw new DroverError('NOT_FOUND', `Unknown pod resource ::${action.slice(0, 64)}`);
      const ids: unknown = arg !== undefined ? [arg] : request.body;
      if (!Array.isArray(ids) || ids.length > 10000 || !ids.every((x) => typeof x === 'string' && x.length <= 1024)) {
        throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/', errors: ['expected an array of instance ids'] }] });
      }
      const bad = (ids as string[]).findIndex((x) => !INSTANCE_ID.test(x));
      if (bad >= 0) throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: arg !== undefined ? '/instanceId' : `/${bad}`, errors: ['is not an instance id'] }] });
      const killed = await pods.killInstances(pod.id, ids as string[], flag(request, 'wipe'));
      if (arg !== undefined) {
        if (killed.length === 0) throw new DroverError('NOT_FOUND', `Instance '${arg.slice(0, 256)}' of pod '${pod.id}' does not exist`);
        return pods.instanceStatus(killed[0]!);
      }
      return killed.map((i) => pods.instanceStatus(i));
    }),
  );
}
