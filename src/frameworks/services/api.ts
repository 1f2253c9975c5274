/**
 * Marathon's `/v2` REST API over the services framework: apps, tasks, deployments, queue,
 * events (SSE), info. Error bodies keep Marathon's shapes; a refused request changes nothing.
 */
import { marathonContainer } from './stateful-schema.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DroverError } from '../../errors/errors.ts';
import { type App, isScaleOnly, parseApp } from './app.ts';
import { AppDefinition, ignoredFields, normalizeId } from './app-schema.ts';
import { EVENT_STREAM_BUFFER_BYTES, MAX_EVENT_SUBSCRIBERS, sseFrame } from './events.ts';
import { holdsSlot, isHealthy, isLive, type Instance, type InstanceHealth } from './reconcile.ts';
import type { ServicesFramework } from './services.ts';
import type { Deployment } from './deployments.ts';
import { guarded } from './conflict.ts';
import { registerGroupRoutes } from './groups-api.ts';
import { registerPodRoutes } from './pods-api.ts';
import { servicePortsOf } from './service-ports.ts';
import type { AppRuntime } from './runtime.ts';
import type { Pod } from './pod-schema.ts';
import { AppJsonCache, EMBED, type EncodedApp, embedBits, type Reads, sendsEncodedLists } from './app-json-cache.ts';

type Query = Record<string, string | string[] | undefined>;

const flag = (q: Query, name: string): boolean => q[name] === 'true' || q[name] === '';
/** A repeatable query parameter; Marathon also takes comma-separated values (`embed=a,b`). */
const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]).flatMap((x) => x.split(','));

export function registerServicesRoutes(app: FastifyInstance, services: ServicesFramework): void {
  // Called only once routes answer, when appJson below exists.
  registerGroupRoutes(app, services, {
    appInfos: (reply, apps, embed) => encodedAppInfos(reply, apps, embed),
    definitions: (reply, apps) => {
      sendsEncodedLists(reply);
      return apps.map((a) => cache.definitionOf(a));
    },
  });
  registerPodRoutes(app, services);
  const servicePortsOfApp = (appId: string): number[] => {
    const a = services.apps.get(appId);
    return a ? servicePortsOf(a) : [];
  };
  const taskJson = (i: Instance): Record<string, unknown> => ({
    id: i.taskId,
    appId: i.appId,
    host: i.host,
    ports: i.ports,
    servicePorts: servicePortsOfApp(i.appId),
    slaveId: i.agentId,
    agentId: i.agentId,
    stagedAt: i.stagedAt,
    ...(i.startedAt ? { startedAt: i.startedAt } : {}),
    version: i.version,
    state: i.state,
    ipAddresses: [{ ipAddress: '127.0.0.1', protocol: 'IPv4' }],
    ...(i.healthy === undefined ? {} : { healthCheckResults: [healthJson(i, i.healthy)] }),
  });

  /** Marathon's `taskStats` of one group of instances (types/appInfo.raml TaskStats). */
  const statsOf = (a: App, group: Instance[]): Record<string, unknown> => {
    const now = services.now();
    const lifeTimes = group.filter((i) => i.startedAt !== undefined).map((i) => (now - Date.parse(i.startedAt!)) / 1000);
    const counts = {
      staged: group.filter((i) => i.state === 'TASK_STAGING' || i.state === 'TASK_STARTING').length,
      running: group.filter((i) => i.state === 'TASK_RUNNING').length,
      healthy: a.healthChecks.length === 0 ? 0 : group.filter((i) => isHealthy(a, i)).length,
      unhealthy: a.healthChecks.length === 0 ? 0 : group.filter((i) => i.state === 'TASK_RUNNING' && i.healthy === false).length,
    };
    const sorted = lifeTimes.sort((x, y) => x - y);
    const median = sorted.length === 0 ? 0 : sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    const average = sorted.length === 0 ? 0 : sorted.reduce((x, y) => x + y, 0) / sorted.length;
    return { stats: { counts, lifeTime: { averageSeconds: average, medianSeconds: median } } };
  };
  const taskStats = (a: App, live: Instance[]): Record<string, unknown> => {
    // Marathon leaves out a group with no instances.
    const out: Record<string, unknown> = {};
    const groups: Array<[string, Instance[]]> = [
      ['startedAfterLastScaling', live.filter((i) => i.startedAt !== undefined && i.startedAt >= a.versionInfo.lastScalingAt)],
      ['withLatestConfig', live.filter((i) => i.configVersion === a.versionInfo.lastConfigChangeAt)],
      ['withOutdatedConfig', live.filter((i) => i.configVersion !== a.versionInfo.lastConfigChangeAt)],
      ['totalSummary', live],
    ];
    for (const [name, group] of groups) if (group.length > 0) out[name] = statsOf(a, group);
    return out;
  };

  /**
   * Marathon's AppInfo. `embed` as Marathon's InfoEmbedResolver reads it (`apps.*`, `app.*` or
   * `group.apps.*`): counts and deployments are always there (Marathon still sends them unasked).
   */
  const appJson = (a: App, embed: readonly string[]): Record<string, unknown> => ({
    ...appDefinitionJson(a),
    ...appDynamicJson(a, embedBits(embed)),
  });
  /** The definition part of an AppInfo (up to `role`): it changes only with the app. */
  const appDefinitionJson = (a: App): Record<string, unknown> => {
    const { persistentVolumes: _resident, ...marathon } = a;
    const container = marathonContainer(a);
    return {
      ...marathon,
      // Marathon's default executor (the command executor) is shown as the empty string.
      executor: '',
      portDefinitions: a.portDefinitions.map((p) => ({ ...p, labels: p.labels ?? {} })),
      // Legacy fields Marathon still shows (and clients such as marathon-lb read): the service
      // ports, and the URIs of `fetch`.
      ports: servicePortsOf(a),
      uris: a.fetch.map((f) => f.uri),
      ...(container === undefined ? {} : { container }),
      role: a.role ?? services.roles[0],
    };
  };
  /**
   * The part of an AppInfo that moves with tasks and deployments: counts, deployments and the
   * embeds (`bits`, app-json-cache.ts EMBED). `deployments` (app id → its deployments) saves a
   * scan of every deployment per app when a whole list is shown.
   *
   * Every input read here must also be read by `readDynamic` below: a list keeps this part's
   * text until one of those inputs changes.
   */
  const appDynamicJson = (a: App, bits: number, deployments?: ReadonlyMap<string, Deployment[]>): Record<string, unknown> => {
    const live = services.instancesOf(a.id).filter(isLive);
    const out: Record<string, unknown> = {
      tasksStaged: live.filter((i) => i.state === 'TASK_STAGING' || i.state === 'TASK_STARTING').length,
      tasksRunning: live.filter((i) => i.state === 'TASK_RUNNING').length,
      tasksHealthy: a.healthChecks.length === 0 ? 0 : live.filter((i) => isHealthy(a, i)).length,
      tasksUnhealthy: a.healthChecks.length === 0 ? 0 : live.filter((i) => i.state === 'TASK_RUNNING' && i.healthy === false).length,
      deployments: (deployments === undefined ? services.deployments.forApp(a.id) : (deployments.get(a.id) ?? [])).map((d) => ({ id: d.id })),
    };
    if ((bits & EMBED.tasks) !== 0) out['tasks'] = live.map(taskJson);
    if ((bits & EMBED.lastTaskFailure) !== 0) {
      const failure = services.runtimeOf(a.id).lastTaskFailure;
      if (failure) out['lastTaskFailure'] = failure;
    }
    if ((bits & EMBED.readiness) !== 0) out['readinessCheckResults'] = live.map((i) => services.readiness.results.get(i.taskId)).filter((r) => r !== undefined);
    if ((bits & EMBED.taskStats) !== 0) out['taskStats'] = taskStats(a, live);
    return out;
  };
  /**
   * What `appDynamicJson` reads for an app, in a fixed order (`taskStats` is not kept: it reads
   * the clock). Without the tasks or readiness embeds only what the counts read (`isLive`,
   * `isHealthy`: state, healthy, ready; the app's checks come with the App object). The instances are edited in place by status updates, health and readiness: each
   * of their fields is read, not only the objects. `taskJson` reads the app's service ports: they
   * are the app's (`services.apps.get(appId)` is the app shown), kept by the cache per App object.
   */
  const readDynamic = (a: App, bits: number, deployments: ReadonlyMap<string, Deployment[]>, reads: Reads): void => {
    const mine = deployments.get(a.id);
    reads.see(mine?.length ?? 0);
    if (mine !== undefined) for (const d of mine) reads.see(d.id);
    const instances = services.instances.appInstances(a.id);
    reads.see(instances?.size ?? 0);
    if (instances !== undefined) {
      for (const i of instances.values()) {
        if ((bits & (EMBED.tasks | EMBED.readiness)) === 0) {
          // Counts only (isLive, the state, isHealthy): three fields, not every field of 50,000
          // instances — an app's counts cost less to read than its tasks' JSON did to make.
          reads.see(i.state);
          reads.see(i.healthy);
          reads.see(i.ready);
          continue;
        }
        reads.see(i);
        for (const field of INSTANCE_FIELDS) reads.see(i[field]);
        for (const port of i.ports) reads.see(port);
        const h = i.health;
        if (h !== undefined) for (const field of HEALTH_FIELDS) reads.see(h[field]);
        if ((bits & EMBED.readiness) !== 0) reads.see(services.readiness.results.get(i.taskId));
      }
    }
    if ((bits & EMBED.lastTaskFailure) !== 0) reads.see(services.runtimeOf(a.id).lastTaskFailure);
  };
  const cache = new AppJsonCache<ReadonlyMap<string, Deployment[]>>(appDefinitionJson, { json: appDynamicJson, read: readDynamic });
  /**
   * A list's AppInfos as cached text (app-json-cache.ts): the guard's read filter drops the
   * items the caller may not read, then `serializeWithEncoded` (set on the reply) joins the rest.
   */
  const encodedAppInfos = (reply: FastifyReply, apps: readonly App[], embed: readonly string[]): EncodedApp[] => {
    sendsEncodedLists(reply);
    const deployments = services.deployments.byApp();
    const bits = embedBits(embed);
    const defaultRole = services.roles[0] ?? '*';
    const out = new Array<EncodedApp>(apps.length);
    for (let k = 0; k < apps.length; k++) {
      const a = apps[k]!;
      out[k] = cache.appInfo(a, a.role ?? defaultRole, bits, deployments);
    }
    return out;
  };
  /** What `GET /v2/apps/{id}` embeds unasked (Marathon's AppsResource.show). */
  const SHOW_EMBEDS = ['app.tasks', 'app.counts', 'app.deployments', 'app.lastTaskFailure', 'app.readiness'];

  const deployed = (reply: FastifyReply, d: Deployment, status: number, body?: unknown): FastifyReply =>
    reply
      .status(status)
      .header('Marathon-Deployment-Id', d.id)
      .send(body ?? { deploymentId: d.id, version: d.version });

  const now = (): Date => new Date(services.now());
  /** `scale=true` with nothing to kill: Marathon still answers a deployment result, with no deployment. */
  const scaledNothing = (): Deployment => ({ id: '', version: now().toISOString(), apps: [], action: 'ScaleApplication', previous: [] });

  /** A PUT/PATCH body merged over the current definition (Marathon's partialUpdate=true). */
  const updated = (id: string, body: unknown, partial: boolean): App => {
    const existing = services.apps.get(id);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/', errors: ['expected a JSON object'] }] });
    // A null count is not "the default": `drover app scale /web abc` once sent NaN (null in JSON) and scaled 3 → 1.
    if ('instances' in body && (body as Record<string, unknown>)['instances'] === null) {
      throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/instances', errors: ['must be an integer >= 0, not null'] }] });
    }
    const merged = { ...(existing && partial ? stripComputed(existing) : {}), ...(body as Record<string, unknown>), id };
    const next = parseApp(merged, now());
    // `port: 0` again means the ports the app holds: compared with them assigned, a PUT of the
    // same definition with another instance count is a scale, not a restart.
    const assigned = existing ? services.withServicePorts(next) : next;
    if (existing && isScaleOnly(existing, assigned)) {
      return { ...assigned, versionInfo: { lastConfigChangeAt: existing.versionInfo.lastConfigChangeAt, lastScalingAt: next.version } };
    }
    return next;
  };

  app.get('/v2/apps', async (request, reply) => {
    const q = request.query as Query;
    const embed = list(q['embed']);
    const idFilter = typeof q['id'] === 'string' ? q['id'] : undefined;
    const cmdFilter = typeof q['cmd'] === 'string' ? q['cmd'] : undefined;
    const selector = typeof q['label'] === 'string' ? parseLabelSelector(q['label']) : undefined;
    const apps = [...services.apps.values()].filter(
      (a) => (idFilter === undefined || a.id.includes(idFilter)) && (cmdFilter === undefined || (a.cmd ?? '').includes(cmdFilter)) && (selector === undefined || selector(a.labels)),
    );
    return { apps: encodedAppInfos(reply, apps, embed) };
  });

  app.post('/v2/apps', async (request, reply) =>
    guarded(reply, async () => {
      const parsed = services.withServicePorts(parseApp(request.body, now()));
      const d = await services.putApp(parsed, { create: true, force: flag(request.query as Query, 'force') });
      services.events.publish('api_post_event', { clientIp: request.ip, uri: '/v2/apps', appDefinition: parsed });
      nameIgnored(reply, request.body);
      return reply.status(201).header('Location', `/v2/apps${parsed.id}`).header('Marathon-Deployment-Id', d.id).send(appJson(parsed, []));
    }),
  );

  // Create-or-update many apps in one request (Marathon PUT/PATCH /v2/apps).
  const bulk = async (request: FastifyRequest, reply: FastifyReply) =>
    guarded(reply, async () => {
      const q = request.query as Query;
      if (!Array.isArray(request.body)) throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/', errors: ['expected an array of apps'] }] });
      // Validate every element first, so a bad one changes nothing.
      let next = (request.body as unknown[]).map((body, i) => {
        const id = typeof (body as { id?: unknown })?.id === 'string' ? appId(String((body as { id: string }).id).replace(/^\//, '')) : undefined;
        if (!id) throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: `/${i}/id`, errors: ['is required'] }] });
        try {
          return updated(id, body, q['partialUpdate'] !== 'false');
        } catch (e) {
          if (e instanceof DroverError && e.status === 422) throw new DroverError('VALIDATION', e.message, { details: e.details.map((d) => ({ ...d, path: `/${i}${d.path === '/' ? '' : d.path}` })) });
          throw e;
        }
      });
      // Service ports for all of them at once: a conflict refuses the whole request before any write.
      next = services.withServicePortsAll(next);
      services.deployments.checkLock(
        next.map((a) => a.id),
        flag(q, 'force'),
      );
      let last: Deployment | undefined;
      for (const a of next) last = await services.putApp(a, { force: true });
      return last ? deployed(reply, last, 200) : reply.status(200).send({ deploymentId: null, version: now().toISOString() });
    });
  app.put('/v2/apps', bulk);
  app.patch('/v2/apps', bulk);

  app.get('/v2/tasks', async (request, reply) => {
    const q = request.query as Query;
    const statuses = [...list(q['status']), ...list(q['status[]'])].map((s) => s.toLowerCase());
    const tasks = [...services.instances.values()].filter(isLive).filter((i) => statuses.length === 0 || statuses.some((s) => i.state === `TASK_${s.toUpperCase()}`));
    if ((request.headers.accept ?? '').includes('text/plain')) return reply.type('text/plain').send(tasksText(tasks, services));
    return { tasks: tasks.map(taskJson) };
  });

  app.post('/v2/tasks/delete', async (request, reply) => {
    const body = request.body as { ids?: unknown };
    if (!Array.isArray(body?.ids) || !body.ids.every((x) => typeof x === 'string')) {
      throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/ids', errors: ['expected an array of task ids'] }] });
    }
    const q = request.query as Query;
    const scale = scaleOrWipe(q);
    const { killed, deployment } = await services.killTasks(body.ids as string[], scale, flag(q, 'wipe'), flag(q, 'force'));
    if (scale) return deployed(reply, deployment ?? scaledNothing(), 200);
    return { tasks: killed.map(taskJson) };
  });

  app.get('/v2/deployments', async () =>
    services.deployments.list().map((d) => {
      const json = services.deployments.toJson(d) as { currentActions: Array<{ app?: string; readinessCheckResults: unknown[] }> };
      for (const action of json.currentActions) {
        // Pods have no readiness checks (Marathon's neither).
        if (action.app === undefined) continue;
        action.readinessCheckResults = services
          .instancesOf(action.app)
          .map((i) => services.readiness.results.get(i.taskId))
          .filter((r) => r !== undefined);
      }
      return json;
    }),
  );
  app.delete('/v2/deployments/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const rollback = await services.cancelDeployment(id, flag(request.query as Query, 'force'));
    if (!rollback) return reply.status(202).send();
    return deployed(reply, rollback, 200);
  });

  app.get('/v2/queue', async (request) => {
    // `?id=/web`: one app's entry (what `drover app show` and `deployment watch` read).
    const only = (request.query as Query)['id'];
    const apps = typeof only === 'string' ? [services.apps.get(appId(only))].filter((a) => a !== undefined) : [...services.apps.values()];
    // Pods too, as Marathon lists them: `pod` in place of `app`.
    const pods = typeof only === 'string' ? [services.pods.pods.get(appId(only))].filter((p) => p !== undefined) : [...services.pods.pods.values()];
    return { queue: [...apps.flatMap((a) => queueEntry(a)), ...pods.flatMap((p) => podQueueEntry(p))] };
  });

  const podQueueEntry = (pod: Pod) => {
    const q = services.pods.queued(pod);
    if (q === undefined) return [];
    const left = Math.max(0, Math.ceil((q.runtime.delayUntil - services.now()) / 1000));
    const rejections = [...q.runtime.rejections.values()];
    return [
      {
        pod,
        count: q.count,
        delay: { timeLeftSeconds: left, overdue: left === 0 },
        since: pod.version,
        launchStopped: false,
        role: pod.role ?? services.roles[0] ?? '*',
        processedOffersSummary: {
          processedOffersCount: rejections.length,
          unusedOffersCount: rejections.length,
          rejectSummaryLastOffers: rejectSummary(rejections),
          rejectSummaryLaunchAttempt: rejectSummary(rejections),
        },
        lastUnusedOffers: rejections.map((x) => ({ agentId: x.agentId, hostname: x.hostname, reason: x.code === undefined ? [x.reason] : [x.reason, x.code], timestamp: x.at })),
        why: whyNotRunning(pod, { rejections: q.runtime.rejections, consecutiveFailures: q.runtime.failures, delayUntil: q.runtime.delayUntil }, left, undefined),
      },
    ];
  };

  const queueEntry = (a: App) => {
    const r = services.runtimeOf(a.id);
    // Unreachable instances past inactiveAfterSeconds no longer count: their replacements are queued.
    const now = services.now();
    const live = services.instancesOf(a.id).filter((i) => holdsSlot(a, i, now)).length;
    // What the reconciler wants launched counts too: a rolling restart whose new instances
    // cannot be placed has every old one running (instances − live is 0) and is stuck all the same.
    const count = Math.max(0, a.instances - live, services.planOf(a).launch);
    if (count === 0 && r.stopped === undefined) return [];
    const left = Math.max(0, Math.ceil((r.delayUntil - services.now()) / 1000));
    return [
      {
        app: appJson(a, []),
        count,
        delay: { timeLeftSeconds: left, overdue: left === 0 },
        since: a.version,
        ...(r.stopped ? { launchStopped: true, stoppedReason: r.stopped } : { launchStopped: false }),
        ...(services.waitingFor(a) ? { waitingForDependency: services.waitingFor(a) } : {}),
        role: a.role ?? services.roles[0] ?? '*',
        processedOffersSummary: {
          processedOffersCount: r.rejections.size,
          unusedOffersCount: r.rejections.size,
          rejectSummaryLastOffers: rejectSummary(r.rejections.values()),
          // Drover keeps only the last offer per agent, so the launch attempt's summary is the same.
          rejectSummaryLaunchAttempt: rejectSummary(r.rejections.values()),
        },
        // The reason in words first (what Drover always said), then Marathon's code.
        lastUnusedOffers: [...r.rejections.values()].map((x) => ({ agentId: x.agentId, hostname: x.hostname, reason: x.code === undefined ? [x.reason] : [x.reason, x.code], timestamp: x.at })),
        why: whyNotRunning(a, r, left, services.waitingFor(a)),
      },
    ];
  };

  app.delete('/v2/queue/*', async (request, reply) => {
    const path = (request.params as { '*': string })['*'];
    if (!path.endsWith('/delay')) throw new DroverError('NOT_FOUND', `No route for DELETE /v2/queue/${path}`);
    const id = appId(path.slice(0, -'/delay'.length));
    if (!services.apps.has(id)) throw new DroverError('NOT_FOUND', `App '${id}' does not exist`);
    services.resetDelay(id);
    return reply.status(204).send();
  });

  app.get('/v2/events', async (request, reply) => {
    const q = request.query as Query;
    const types = new Set(list(q['event_type']));
    if (services.events.subscribers >= MAX_EVENT_SUBSCRIBERS) {
      return reply
        .status(503)
        .header('retry-after', '5')
        .send(new DroverError('OVERLOADED', `Too many event stream subscribers (at most ${MAX_EVENT_SUBSCRIBERS}); retry later`).toJSON());
    }
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    reply.raw.write(sseFrame({ eventType: 'event_stream_attached', timestamp: new Date().toISOString(), remoteAddress: request.ip }));
    const unsubscribe = services.events.subscribe((event) => {
      if (types.size > 0 && !types.has(event.eventType)) return;
      // A consumer that cannot keep up is disconnected instead of buffered without bound.
      if (reply.raw.writableLength > EVENT_STREAM_BUFFER_BYTES) reply.raw.destroy();
      else reply.raw.write(sseFrame(event));
    });
    reply.raw.once('close', () => {
      unsubscribe();
      // Marathon tells the other subscribers that one left.
      services.events.publish('event_stream_detached', { remoteAddress: request.ip });
    });
  });

  app.get('/v2/info', async (request) => {
    const leader = request.headers.host ?? `localhost:${request.socket.localPort}`;
    const base = `${request.protocol}://${leader}`;
    return {
      name: 'drover',
      version: '1.10.0',
      buildref: 'drover',
      elected: true,
      leader,
      frameworkId: services.frameworkId ?? null,
      // The keys clients read (info.json); Drover's own values, as Drover runs them.
      marathon_config: {
        master: base,
        failover_timeout: 604800,
        framework_name: 'marathon',
        ha: false,
        hostname: request.hostname,
        local_port_min: 10000,
        local_port_max: 20000,
        mesos_role: services.roles[0] ?? '*',
        mesos_user: 'nobody',
        task_launch_timeout: 300000,
        executor: '//cmd',
        features: [],
        webui_url: base,
        mesos_leader_ui_url: `${base}/`,
      },
      // The port this request came in on: clients build URLs from it.
      http_config: { http_port: request.socket.localPort },
    };
  });
  // Marathon's HTTP callback subscriptions were removed in 1.7; clients still list them.
  app.get('/v2/eventSubscriptions', async () => ({ callbackUrls: [] }));
  // No plugins are loaded (Marathon's answer when none is configured).
  app.get('/v2/plugins', async () => ({ plugins: [] }));
  app.get('/v2/schemas/app', async () => ({ $schema: 'http://json-schema.org/draft-07/schema#', ...appDefinitionSchema() }));
  app.get('/v2/leader', async (request) => ({ leader: request.headers.host ?? 'localhost:5050' }));

  // Nested ids: /v2/apps/prod/web[/restart|/tasks[/<taskId>]|/versions]
  app.get('/v2/apps/*', async (request) => {
    const raw = (request.params as { '*': string })['*'];
    const embedAsked = list((request.query as Query)['embed']);
    // `/v2/apps/<group>/*`: every app under the group, keyed "*" (Marathon's AppsResource).
    if (raw === '*' || raw.endsWith('/*')) {
      const group = raw === '*' ? '/' : appId(raw.slice(0, -2));
      const prefix = group === '/' ? '/' : `${group}/`;
      return { '*': [...services.apps.values()].filter((a) => a.id.startsWith(prefix)).map((a) => appJson(a, embedAsked)) };
    }
    const { id, suffix, rest } = splitAppPath(request);
    const found = services.apps.get(id);
    if (!found) throw new DroverError('NOT_FOUND', `App '${id}' does not exist`);
    if (suffix === 'tasks') return { tasks: services.instancesOf(id).filter(isLive).map(taskJson) };
    if (suffix === 'versions') {
      const versions = await services.versions(id);
      if (!rest) return { versions: versions.map((v) => v.version).reverse() };
      const one = versions.find((v) => v.version === rest);
      if (!one) throw new DroverError('NOT_FOUND', `App '${id}' has no version ${rest}`);
      return one;
    }
    return { app: appJson(found, embedAsked.length === 0 ? SHOW_EMBEDS : embedAsked) };
  });

  const putOrPatch = (partialDefault: boolean) => async (request: FastifyRequest, reply: FastifyReply) =>
    guarded(reply, async () => {
      const { id, suffix } = splitAppPath(request);
      if (suffix) throw new DroverError('NOT_FOUND', `No route for ${request.method} ${request.url}`);
      const q = request.query as Query;
      const partial = q['partialUpdate'] === undefined ? partialDefault : q['partialUpdate'] !== 'false';
      const body = request.body as Record<string, unknown> | null;
      // `{"version": "<v>"}` rolls the app back to that stored version (Marathon).
      if (body && typeof body === 'object' && Object.keys(body).length === 1 && typeof body['version'] === 'string') {
        const target = (await services.versions(id)).find((v) => v.version === body['version']);
        if (!target) throw new DroverError('NOT_FOUND', `App '${id}' has no version ${String(body['version'])}`);
        const version = now().toISOString();
        const d = await services.putApp({ ...target, version, versionInfo: { lastConfigChangeAt: version, lastScalingAt: version } }, { force: flag(q, 'force') });
        return deployed(reply, d, 200);
      }
      const existed = services.apps.has(id);
      const next = updated(id, request.body, partial);
      nameIgnored(reply, request.body);
      const d = await services.putApp(next, { force: flag(q, 'force') });
      return deployed(reply, d, existed ? 200 : 201);
    });
  app.put('/v2/apps/*', putOrPatch(true));
  app.patch('/v2/apps/*', putOrPatch(true));

  app.post('/v2/apps/*', async (request, reply) =>
    guarded(reply, async () => {
      const { id, suffix } = splitAppPath(request);
      if (suffix !== 'restart') throw new DroverError('NOT_FOUND', `No route for POST ${request.url}`);
      const found = services.apps.get(id);
      if (!found) throw new DroverError('NOT_FOUND', `App '${id}' does not exist`);
      const version = now().toISOString();
      const d = await services.putApp({ ...found, version, versionInfo: { lastConfigChangeAt: version, lastScalingAt: version } }, { force: flag(request.query as Query, 'force') });
      return deployed(reply, d, 200);
    }),
  );

  app.delete('/v2/apps/*', async (request, reply) =>
    guarded(reply, async () => {
      const { id, suffix, rest } = splitAppPath(request);
      const q = request.query as Query;
      if (suffix === 'tasks') {
        if (!services.apps.has(id)) throw new DroverError('NOT_FOUND', `App '${id}' does not exist`);
        const host = typeof q['host'] === 'string' ? q['host'] : undefined;
        const ids = rest
          ? [rest]
          : services
              .instancesOf(id)
              .filter((i) => isLive(i) && (host === undefined || i.host === host))
              .map((i) => i.taskId);
        if (rest && !services.instances.has(rest)) throw new DroverError('NOT_FOUND', `Task '${rest}' does not exist`);
        const scale = scaleOrWipe(q);
        const { killed, deployment } = await services.killTasks(ids, scale, flag(q, 'wipe'), flag(q, 'force'));
        // Marathon answers a kill that scales with the deployment it started.
        if (scale) return deployed(reply, deployment ?? scaledNothing(), 200);
        return reply.send(rest ? { task: killed[0] ? taskJson(killed[0]) : null } : { tasks: killed.map(taskJson) });
      }
      if (suffix) throw new DroverError('NOT_FOUND', `No route for DELETE ${request.url}`);
      const d = await services.deleteApp(id, flag(q, 'force'));
      return deployed(reply, d, 200);
    }),
  );
}

/**
 * Every field of an instance (a field added to Instance must be added here: the type says so),
 * each compared when a list checks whether an app's kept dynamic part still holds.
 */
const INSTANCE_FIELD_SET: Record<keyof Instance, true> = {
  taskId: true,
  appId: true,
  agentId: true,
  hostname: true,
  attributes: true,
  configVersion: true,
  version: true,
  state: true,
  healthy: true,
  health: true,
  ready: true,
  ports: true,
  host: true,
  stagedAt: true,
  startedAt: true,
  unreachableSince: true,
  inactive: true,
};
const INSTANCE_FIELDS = Object.keys(INSTANCE_FIELD_SET) as Array<keyof Instance>;
const HEALTH_FIELD_SET: Record<keyof InstanceHealth, true> = { consecutiveFailures: true, firstSuccess: true, lastSuccess: true, lastFailure: true, lastFailureCause: true };
const HEALTH_FIELDS = Object.keys(HEALTH_FIELD_SET) as Array<keyof InstanceHealth>;

/** The app definition's JSON schema (the one the API validates with), without TypeBox's symbols. */
function appDefinitionSchema(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(AppDefinition)) as Record<string, unknown>;
}

/**
 * An app id from a route's path. Fastify has already percent-decoded the path once: decoding it
 * again turned `%25` into a lone `%` and a URIError (a 500), and would let `%252F` smuggle a slash.
 */
function appId(raw: string): string {
  const id = normalizeId(raw);
  if (typeof id !== 'string') throw new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/id', errors: [id.error] }] });
  return id;
}

function splitAppPath(request: FastifyRequest): { id: string; suffix?: 'tasks' | 'versions' | 'restart'; rest?: string } {
  const path = (request.params as { '*': string })['*'].replace(/\/$/, '');
  const match = /^(.*?)\/(tasks|versions|restart)(?:\/(.+))?$/.exec(path);
  if (match?.[1] && match[2]) return { id: appId(match[1]), suffix: match[2] as 'tasks' | 'versions' | 'restart', ...(match[3] ? { rest: match[3] } : {}) };
  return { id: appId(path) };
}

/** Marathon refuses `scale` with `wipe` (TasksResource): a wiped resident instance is not a scale-down. */
function scaleOrWipe(q: Query): boolean {
  const scale = flag(q, 'scale');
  if (scale && flag(q, 'wipe')) throw new DroverError('MALFORMED', 'You cannot use scale and wipe at the same time.', { details: [{ path: '/scale', errors: ['scale and wipe exclude each other'] }] });
  return scale;
}

function stripComputed(app: App): Record<string, unknown> {
  const { version: _v, versionInfo: _vi, persistentVolumes: _p, ...rest } = app;
  // Persistent volumes go back among container.volumes, where the definition has them.
  const container = marathonContainer(app);
  return container === undefined ? rest : { ...rest, container };
}

function tasksText(tasks: Instance[], services: ServicesFramework): string {
  const lines: string[] = [];
  for (const a of services.apps.values()) {
    const mine = tasks.filter((t) => t.appId === a.id);
    a.portDefinitions.forEach((p, idx) => {
      lines.push([a.id.slice(1).replaceAll('/', '_'), String(p.port), ...mine.map((t) => `${t.host}:${t.ports[idx] ?? ''}`)].join('\t'));
    });
  }
  return lines.join('\n') + (lines.length > 0 ? '\n' : '');
}

/** Marathon's label selector: `k`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, comma = AND. */
export function parseLabelSelector(text: string): (labels: Record<string, string>) => boolean {
  const parts = text
    .split(/,(?![^()]*\))/)
    .map((p) => p.trim())
    .filter(Boolean);
  const tests = parts.map((part) => {
    let m = /^([^!=\s]+)\s*==\s*(.*)$/.exec(part);
    if (m) return (l: Record<string, string>) => l[m![1]!] === m![2];
    m = /^([^!=\s]+)\s*!=\s*(.*)$/.exec(part);
    if (m) return (l: Record<string, string>) => l[m![1]!] !== m![2];
    m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(part);
    if (m) {
      const values = m[3]!.split(',').map((v) => v.trim());
      const inSet = m[2] === 'in';
      return (l: Record<string, string>) => (l[m![1]!] !== undefined && values.includes(l[m![1]!]!)) === inSet;
    }
    if (/^\S+$/.test(part)) return (l: Record<string, string>) => l[part] !== undefined;
    throw new DroverError('VALIDATION', `Invalid label selector: ${part}`, { details: [{ path: '/label', errors: [`cannot parse '${part}'`] }] });
  });
  return (labels) => tests.every((t) => t(labels));
}

/**
 * The class of agents a refusal puts its agent in. Resource refusals are their own class
 * (`insufficient mem: 1856 < 99999`: agents of one size together); a constraint's refusal names
 * the agent (`constraint hostname UNIQUE: hostname h1 already runs an instance`), so its class is
 * the constraint (`constraint hostname UNIQUE`).
 */
function reasonClass(reason: string): string {
  if (!reason.startsWith('constraint ')) return reason;
  const colon = reason.indexOf(': ');
  return colon < 0 ? reason : reason.slice(0, colon);
}

/** How many hostnames each placement reason names (the agent count is always whole). */
const WHY_HOSTNAMES = 5;

/**
 * Why an app's instances are not running, in one object (docs/architecture/017-why.md): the
 * placement refusals of the current configuration grouped by their reason — agents refusing for
 * the same reason are one class — most agents first; the last task failure; the backoff.
 */
export function whyNotRunning(
  app: Pick<App, 'versionInfo'>,
  r: Pick<AppRuntime, 'rejections' | 'consecutiveFailures' | 'delayUntil' | 'stopped' | 'lastTaskFailure'>,
  delaySeconds: number,
  waitingFor: string | undefined,
) {
  const since = Date.parse(app.versionInfo.lastConfigChangeAt);
  const classes = new Map<string, { agents: number; reason: string; code?: string; example: string; hostnames: string[] }>();
  for (const x of r.rejections.values()) {
    // Refusals of an earlier configuration say nothing about this one.
    if (Date.parse(x.at) < since) continue;
    const key = reasonClass(x.reason);
    const c = classes.get(key) ?? { agents: 0, reason: key, ...(x.code === undefined ? {} : { code: x.code }), example: x.reason, hostnames: [] };
    c.agents++;
    if (c.hostnames.length < WHY_HOSTNAMES) c.hostnames.push(x.hostname);
    classes.set(key, c);
  }
  const placement = [...classes.values()].sort((p, q) => q.agents - p.agents || p.reason.localeCompare(q.reason));
  const backoff = {
    consecutiveFailures: r.consecutiveFailures,
    delaySeconds,
    ...(delaySeconds > 0 ? { until: new Date(r.delayUntil).toISOString() } : {}),
    stopped: r.stopped !== undefined,
    ...(r.stopped === undefined ? {} : { stoppedReason: r.stopped }),
  };
  const lines: string[] = [];
  if (r.stopped !== undefined) lines.push(r.stopped);
  if (waitingFor !== undefined) lines.push(`waiting for ${waitingFor} to run all its instances, healthy`);
  if (delaySeconds > 0) lines.push(`backing off for ${delaySeconds} s after ${r.consecutiveFailures} failure(s) in a row`);
  if (placement.length > 0) lines.push(placement.map((p) => `${p.agents} agent${p.agents === 1 ? '' : 's'}: ${p.reason}`).join('; '));
  return {
    summary: lines.join('. '),
    placement,
    ...(r.lastTaskFailure === undefined ? {} : { lastTaskFailure: r.lastTaskFailure }),
    backoff,
    ...(waitingFor === undefined ? {} : { waitingForDependency: waitingFor }),
  };
}

/** Marathon's `rejectSummaryLastOffers`: per reason code, how many of the last offers it declined. */
function rejectSummary(rejections: Iterable<{ code?: string }>): Array<{ reason: string; declined: number; processed: number }> {
  const list = [...rejections];
  const counts = new Map<string, number>();
  for (const r of list) if (r.code !== undefined) counts.set(r.code, (counts.get(r.code) ?? 0) + 1);
  return [...counts].map(([reason, declined]) => ({ reason, declined, processed: list.length }));
}

/** Marathon's `Health` of a task (types/healthCheck.raml; Formats' HealthWrites): unknown times are `null`. */
function healthJson(i: Instance, alive: boolean): Record<string, unknown> {
  const h = i.health;
  return {
    alive,
    consecutiveFailures: h?.consecutiveFailures ?? 0,
    firstSuccess: h?.firstSuccess ?? null,
    lastFailure: h?.lastFailure ?? null,
    lastSuccess: h?.lastSuccess ?? null,
    lastFailureCause: h?.lastFailureCause ?? null,
    instanceId: i.taskId,
    taskId: i.taskId,
  };
}

const MAX_IGNORED_NAMED = 20;
/** The unknown fields Marathon would ignore, named in a header (percent-encoded, bounded: a key may hold anything). */
function nameIgnored(reply: FastifyReply, body: unknown): void {
  const ignored = ignoredFields(body);
  if (ignored.length === 0) return;
  const named = ignored.slice(0, MAX_IGNORED_NAMED).map((key) => `/${encodeURIComponent(key.slice(0, 100))}`);
  if (ignored.length > MAX_IGNORED_NAMED) named.push(`(+${ignored.length - MAX_IGNORED_NAMED} more)`);
  reply.header('Drover-Ignored-Fields', named.join(', '));
  reply.log.info({ ignored: named }, 'app-fields-ignored');
}
