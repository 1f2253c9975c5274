/**
 * Mesos' master HTTP endpoints beside `/master/state` (docs/endpoints/master/*.md), in Mesos'
 * shapes: `/master/slaves`, `/master/flags`, `/master/health`, `/master/redirect`, `/version`,
 * `/metrics/snapshot` (Mesos' metric names), `/master/teardown`, the maintenance primitives
 * (`/master/maintenance/schedule|status`, `/master/machine/down|up`), and `?jsonp=<callback>` on
 * every GET of them (Mesos wraps the JSON as `callback(json);`, type text/javascript).
 * The `.json` aliases (`/master/state.json`, …) are registered with their routes (json-alias.ts).
 */
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { DroverError } from '../../errors/errors.ts';
import { compileValidator } from '../../protocol/validation.ts';
import { versionJson } from '../../protocol/mesos/version.ts';
import type { Master } from '../master.ts';
import { agentToJson } from '../views.ts';
import { masterMetricsSnapshot } from '../metrics-snapshot.ts';
import { Machines, ScheduleSchema, scheduleOf, tearDownFramework, toSchedule } from './operator-cluster.ts';
import { masterFlags } from './master-flags.ts';
import { mesosGet } from './json-alias.ts';
import { EncodedBody } from '../../protocol/encoded-items.ts';

const SlavesQuery = compileValidator(Type.Object({ slave_id: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })) }));
const ScheduleBody = compileValidator(ScheduleSchema);
const MachinesBody = compileValidator(Machines);
const JSONP_CALLBACK = /^[A-Za-z_$][\w$.]{0,127}$/;

function valid<T>(validator: { validate(v: unknown, m?: string): T }, value: unknown, what: string): T {
  try {
    return validator.validate(value, what);
  } catch (e) {
    if (e instanceof DroverError) throw new DroverError('MALFORMED', e.message, { details: e.details });
    throw e;
  }
}

function isMesosRoute(url: string | undefined): boolean {
  return url !== undefined && (url.startsWith('/master/') || url === '/state' || url === '/state.json' || url === '/version' || url === '/metrics/snapshot');
}

export function registerMesosEndpoints(app: FastifyInstance, master: Master): void {
  // JSONP: the callback name is checked before the handler runs (it is echoed into a script).
  app.addHook('preHandler', async (request) => {
    const callback = (request.query as Record<string, unknown> | undefined)?.['jsonp'];
    if (request.method !== 'GET' || callback === undefined || !isMesosRoute(request.routeOptions.url)) return;
    if (typeof callback !== 'string' || callback.length > 128 || !JSONP_CALLBACK.test(callback)) {
      throw new DroverError('MALFORMED', "'jsonp' must be a JavaScript identifier (letters, digits, _, $ and .; at most 128)", { details: [{ path: '/jsonp', errors: ['not a callback name'] }] });
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const callback = (request.query as Record<string, unknown> | undefined)?.['jsonp'];
    const text = typeof payload === 'string';
    if (request.method !== 'GET' || typeof callback !== 'string' || reply.statusCode !== 200 || !(text || payload instanceof EncodedBody) || !isMesosRoute(request.routeOptions.url)) return payload;
    reply.type('text/javascript; charset=utf-8');
    if (text) return `${callback}(${payload});`;
    // The large views stream their parts (encoded-items.ts): wrapped as parts, the length made good.
    const wrapped = (payload as EncodedBody).wrapped(`${callback}(`, ');');
    reply.header('content-length', wrapped.length);
    return wrapped;
  });

  mesosGet(app, '/master/slaves', async (request) => {
    const id = valid(SlavesQuery, request.query, 'Invalid query parameters').slave_id;
    return { slaves: [...master.agents.values()].filter((a) => id === undefined || a.id === id).map(agentToJson), recovered_slaves: [] };
  });
  mesosGet(app, '/master/flags', async () => ({ flags: masterFlags(master) }));
  app.get('/master/health', async (_request, reply) => reply.code(200).send());
  // The leading master redirects to itself (a standby, ha-master.ts, to the leader): `//host:port`.
  app.get('/master/redirect', async (_request, reply) => reply.code(307).header('location', `//${master.hostname}:${master.port}`).send());
  app.get('/version', async () => versionJson());
  app.get('/metrics/snapshot', async () => masterMetricsSnapshot(master));

  // Mesos reads `frameworkId` from the form-encoded body.
  app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    scope.post('/master/teardown', async (request, reply) => {
      const id = (request.body as Record<string, unknown> | undefined)?.['frameworkId'];
      if (typeof id !== 'string' || id === '') {
        throw new DroverError('MALFORMED', "Missing 'frameworkId' query parameter in the request body", { details: [{ path: '/frameworkId', errors: ['required'] }] });
      }
      await tearDownFramework(master, id);
      return reply.code(200).send();
    });
  });

  app.get('/master/maintenance/schedule', async () => scheduleOf(master).get());
  app.post('/master/maintenance/schedule', async (request, reply) => {
    await scheduleOf(master).update(toSchedule(valid(ScheduleBody, request.body, 'Failed to validate the maintenance schedule')));
    return reply.code(200).send();
  });
  app.get('/master/maintenance/status', async () => scheduleOf(master).status());
  app.post('/master/machine/down', async (request, reply) => {
    await scheduleOf(master).down(valid(MachinesBody, request.body, 'Expecting a list of machines'));
    return reply.code(200).send();
  });
  app.post('/master/machine/up', async (request, reply) => {
    await scheduleOf(master).up(valid(MachinesBody, request.body, 'Expecting a list of machines'));
    return reply.code(200).send();
  });
}
