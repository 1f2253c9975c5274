/**
 * Marathon's `/v2/groups`: the app tree by path. Groups are not stored on their own — a group is
 * the set of apps under its path — so creating, scaling or deleting a group is a change to every
 * app in it, validated as a whole before anything is applied.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DroverError, type ErrorDetail } from '../../errors/errors.ts';
import { type App, parseApp } from './app.ts';
import { normalizeId } from './app-schema.ts';
import type { ServicesFramework } from './services.ts';
import { guarded } from './conflict.ts';

type Query = Record<string, string | string[] | undefined>;

interface GroupBody {
  id?: unknown;
  apps?: unknown;
  groups?: unknown;
  scaleBy?: unknown;
}

function groupId(raw: string): string {
  if (raw === '' || raw === '/') return '/';
  // Already percent-decoded by fastify (see api.ts appId): never decode twice.
  const id = normalizeId(raw);
  if (typeof id !== 'string') throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/id', errors: [id.error] }] });
  return id;
}

const under = (group: string, appId: string): boolean => group === '/' || appId.startsWith(`${group}/`);

/**
 * The group tree (Marathon's shape) of every app (and pod) under `root`, from the apps as shown
 * (each app's JSON, or anything with its `id`). Pods are shown, not changed, here. Apps and pods
 * are put in their child group's bucket in one pass per level (a filter of every app per child
 * group was 500,000 prefix checks at 10,000 apps in 50 groups).
 */
export function groupTree<T extends { id: string }>(root: string, apps: readonly T[], version: string, pods: ReadonlyArray<{ id: string }> = []): Record<string, unknown> {
  const here = root === '/' ? '' : root;
  const prefix = `${here}/`;
  const start = here.length + 1;
  const directApps: T[] = [];
  const directPods: Array<{ id: string }> = [];
  const children = new Map<string, { apps: T[]; pods: Array<{ id: string }> }>();
  const bucket = (id: string): { apps: T[]; pods: Array<{ id: string }> } | undefined => {
    if (!id.startsWith(prefix)) return undefined;
    const child = id.slice(0, id.indexOf('/', start));
    let b = children.get(child);
    if (b === undefined) children.set(child, (b = { apps: [], pods: [] }));
    return b;
  };
  for (const a of apps) {
    if (a.id.lastIndexOf('/') === here.length && a.id.startsWith(here)) directApps.push(a);
    else bucket(a.id)?.apps.push(a);
  }
  for (const p of pods) {
    if (p.id.lastIndexOf('/') === here.length && p.id.startsWith(here)) directPods.push(p);
    else bucket(p.id)?.pods.push(p);
  }
  return {
    id: root,
    apps: directApps,
    groups: [...children.keys()].sort().map((child) => groupTree(child, children.get(child)!.apps, version, children.get(child)!.pods)),
    pods: directPods,
    dependencies: [],
    version,
  };
}

/** Every app definition in a group body, with ids resolved against their enclosing group. */
function collect(body: GroupBody, base: string, path: string, now: Date, out: App[], errors: ErrorDetail[]): void {
  const fail = (where: string, error: string): void => void errors.push({ path: where === '' ? '/' : where, errors: [error] });
  if (body.id !== undefined && typeof body.id !== 'string') return fail(`${path}/id`, 'must be a string');
  if (body.apps !== undefined && !Array.isArray(body.apps)) return fail(`${path}/apps`, 'must be an array of apps');
  if (body.groups !== undefined && !Array.isArray(body.groups)) return fail(`${path}/groups`, 'must be an array of groups');
  let id = base;
  if (typeof body.id === 'string') {
    const raw = body.id.startsWith('/') ? body.id : `${base === '/' ? '' : base}/${body.id}`;
    // The root group (`{"id": "/"}`, what a GET /v2/groups sends back) is a group, not an app id.
    const full = raw.replace(/\/+$/, '') === '' ? '/' : normalizeId(raw);
    if (typeof full !== 'string') return fail(`${path}/id`, full.error);
    id = full;
  }
  for (const [i, app] of (Array.isArray(body.apps) ? body.apps : []).entries()) {
    try {
      out.push(parseApp(app, now, id));
    } catch (e) {
      if (!(e instanceof DroverError)) throw e;
      errors.push(...e.details.map((d) => ({ ...d, path: `${path}/apps/${i}${d.path === '/' ? '' : d.path}` })));
    }
  }
  for (const [i, child] of (Array.isArray(body.groups) ? body.groups : []).entries()) {
    // `{"groups":[null]}` was a 500 and `{"groups":[1]}` an empty group: each must be an object.
    if (typeof child !== 'object' || child === null || Array.isArray(child)) fail(`${path}/groups/${i}`, 'expected a group object');
    else collect(child as GroupBody, id, `${path}/groups/${i}`, now, out, errors);
  }
}

/**
 * How a group's apps are shown, as the cached text of each (app-json-cache.ts; the guard's read
 * filter drops unreadable ones before the text is joined): their AppInfo for the group's
 * `embed=group.apps.*` (as `/v2/apps`), else their definition.
 */
export interface AppRenderers {
  appInfos: (reply: FastifyReply, apps: readonly App[], embed: readonly string[]) => Array<{ id: string }>;
  definitions: (reply: FastifyReply, apps: readonly App[]) => Array<{ id: string }>;
}

export function registerGroupRoutes(app: FastifyInstance, services: ServicesFramework, renderers: AppRenderers): void {
  const now = (): Date => new Date(services.now());
  const pathOf = (request: FastifyRequest): string => groupId(((request.params as { '*'?: string })['*'] ?? '').replace(/\/$/, ''));

  const show = async (request: FastifyRequest, reply: FastifyReply) => {
    const id = pathOf(request);
    const apps = [...services.apps.values()].filter((a) => under(id, a.id));
    const pods = [...services.pods.pods.values()].filter((p) => under(id, p.id));
    if (id !== '/' && apps.length === 0 && pods.length === 0) throw new DroverError('NOT_FOUND', `Group '${id}' does not exist`);
    // `embed=group.apps.tasks|counts|…` shows each app as /v2/apps does with those embeds.
    const appEmbeds = [request.query as Query]
      .flatMap((q) => (q['embed'] === undefined ? [] : Array.isArray(q['embed']) ? q['embed'] : [q['embed']]))
      .flatMap((e) => e.split(','))
      .filter((e) => e.startsWith('group.apps.'));
    // Each app as shown carries its id (EncodedApp): the tree is made of what is shown.
    const shown = appEmbeds.length === 0 ? renderers.definitions(reply, apps) : renderers.appInfos(reply, apps, appEmbeds);
    return groupTree(id, shown, now().toISOString(), pods);
  };
  app.get('/v2/groups', show);
  app.get('/v2/groups/*', async (request, reply) => {
    const raw = ((request.params as { '*'?: string })['*'] ?? '').replace(/\/$/, '');
    if (raw === 'versions' || raw.endsWith('/versions')) {
      const id = groupId(raw.slice(0, -'versions'.length).replace(/\/$/, ''));
      const versions = [...new Set((await services.versionsUnder(id)).map((a) => a.version))].sort().reverse();
      if (versions.length === 0) throw new DroverError('NOT_FOUND', `Group '${id}' does not exist`);
      return versions;
    }
    return show(request, reply);
  });

  const change = (create: boolean) => async (request: FastifyRequest, reply: FastifyReply) =>
    guarded(reply, async () => {
      const q = request.query as Query;
      const body = (request.body ?? {}) as GroupBody;
      if (typeof body !== 'object' || Array.isArray(body)) throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/', errors: ['expected a group object'] }] });
      // POST /v2/groups/{id} creates the body's group under {id} (a relative body id is resolved there).
      const base = create && typeof body.id === 'string' && (request.params as { '*'?: string })['*'] === undefined ? '/' : pathOf(request);
      const force = q['force'] === 'true';
      let next: App[];
      let removed: string[] = [];
      if (typeof (body as { version?: unknown }).version === 'string') {
        // Roll the group back: each app to its newest version at or before the given one; apps
        // created after it are removed. (Apps deleted since then cannot come back: their history
        // goes with them.)
        const target = (body as { version: string }).version;
        const history = await services.versionsUnder(base);
        if (!history.some((a) => a.version === target)) throw new DroverError('NOT_FOUND', `Group '${base}' has no version ${target}`);
        const version = now().toISOString();
        const byApp = new Map<string, App>();
        for (const a of history) if (a.version <= target && (byApp.get(a.id)?.version ?? '') < a.version) byApp.set(a.id, a);
        next = [...byApp.values()].map((a) => ({ ...a, version, versionInfo: { lastConfigChangeAt: version, lastScalingAt: version } }));
        removed = [...services.apps.keys()].filter((id) => under(base, id) && !byApp.has(id));
      } else if (body.scaleBy !== undefined) {
        if (typeof body.scaleBy !== 'number' || !(body.scaleBy >= 0))
          throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/scaleBy', errors: ['must be a non-negative number'] }] });
        const factor = body.scaleBy;
        const version = now().toISOString();
        next = [...services.apps.values()]
          .filter((a) => under(base, a.id))
          .map((a) => ({ ...a, instances: Math.ceil(a.instances * factor), version, versionInfo: { ...a.versionInfo, lastScalingAt: version } }));
      } else {
        next = [];
        const errors: ErrorDetail[] = [];
        collect(body, base, '', now(), next, errors);
        if (errors.length > 0) throw new DroverError('VALIDATION', 'Object is not valid', { details: errors });
        if (create && next.some((a) => services.apps.has(a.id))) throw new DroverError('CONFLICT', `Group ${String(body.id ?? base)} already exists`);
      }
      if (q['dryRun'] === 'true') {
        return { steps: next.map((a) => ({ actions: [{ action: services.apps.has(a.id) ? 'RestartApplication' : 'StartApplication', app: a.id }] })) };
      }
      // Service ports for every app of the group at once: a conflict refuses the whole change (409).
      next = services.withServicePortsAll(next);
      services.deployments.checkLock([...next.map((a) => a.id), ...removed], force);
      let deploymentId: string | undefined;
      // Dependencies first: the apps are stored one write at a time, and an offer cycle between two
      // writes would start a dependent whose dependency did not exist yet (seen in CI).
      for (const a of dependenciesFirst(next)) deploymentId = (await services.putApp(a, { force: true })).id;
      for (const id of removed) deploymentId = (await services.deleteApp(id, true)).id;
      return reply
        .status(create ? 201 : 200)
        .header('Marathon-Deployment-Id', deploymentId ?? '')
        .send({ deploymentId: deploymentId ?? null, version: now().toISOString() });
    });
  app.post('/v2/groups', change(true));
  app.post('/v2/groups/*', change(true));
  app.put('/v2/groups', change(false));
  app.put('/v2/groups/*', change(false));

  app.delete('/v2/groups/*', async (request, reply) =>
    guarded(reply, async () => {
      const id = pathOf(request);
      const apps = [...services.apps.values()].filter((a) => under(id, a.id));
      if (apps.length === 0) throw new DroverError('NOT_FOUND', `Group '${id}' does not exist`);
      services.deployments.checkLock(
        apps.map((a) => a.id),
        (request.query as Query)['force'] === 'true',
      );
      let deploymentId = '';
      for (const a of apps) deploymentId = (await services.deleteApp(a.id, true)).id;
      return reply.status(200).header('Marathon-Deployment-Id', deploymentId).send({ deploymentId, version: now().toISOString() });
    }),
  );
}

/** The apps ordered so each comes after the apps of the same batch it depends on (a cycle keeps its order). */
export function dependenciesFirst(apps: readonly App[]): App[] {
  const byId = new Map(apps.map((a) => [a.id, a]));
  const out: App[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (app: App): void => {
    if (state.has(app.id)) return;
    state.set(app.id, 'visiting');
    const group = app.id.slice(0, app.id.lastIndexOf('/')) || '/';
    for (const raw of app.dependencies) {
      const id = normalizeId(raw, group);
      const dependency = typeof id === 'string' ? byId.get(id) : undefined;
      if (dependency !== undefined) visit(dependency);
    }
    state.set(app.id, 'done');
    out.push(app);
  };
  for (const app of apps) visit(app);
  return out;
}
