/**
 * The master's HTTP API: the Mesos v1 scheduler API, the agent link, and the health endpoints.
 * Operator views (state, v1 operator calls) are in operator.ts.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { peerIdentity } from '../../iam/tls-identity.ts';
import { DroverError } from '../../errors/errors.ts';
import { compileValidator } from '../../protocol/validation.ts';
import { AgentCall, AgentSecretsCall, AGENT_STREAM_HEADER } from '../../protocol/mesos/agent-link.ts';
import { resolveTaskSecrets } from '../task-secrets.ts';
import { withoutNullFields } from '../../protocol/mesos/protobuf-json.ts';
import { EventStream } from '../stream.ts';
import type { Master } from '../master.ts';
import * as scheduler from '../scheduler-calls.ts';
import * as agents from '../agent-calls.ts';
import { registerUsageRoutes } from './usage-routes.ts';
import { marathonMetricsJson, wantsPrometheusText } from '../metrics-json.ts';

const agentCalls = compileValidator(AgentCall);
const agentSecretsCalls = compileValidator(AgentSecretsCall);

export function registerMasterRoutes(app: FastifyInstance, master: Master): void {
  // Mesos accepts protobuf bodies too; until Drover speaks protobuf, say so clearly.
  app.addContentTypeParser('application/x-protobuf', (_request, _payload, done) => {
    done(new DroverError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type application/x-protobuf is not supported yet; send application/json'), undefined);
  });

  app.get('/ping', async (_request, reply) => reply.type('text/plain').send('pong'));
  // Marathon's JSON (metrics-json.ts) unless a Prometheus scraper asks for text; the text always at /metrics/prometheus.
  const prometheus = async (reply: FastifyReply) => reply.type(master.metrics.registry.contentType).send(await master.metrics.registry.metrics());
  app.get('/metrics', async (request, reply) => (wantsPrometheusText(request.headers.accept) ? prometheus(reply) : reply.send(await marathonMetricsJson(master.metrics.registry))));
  app.get('/metrics/prometheus', async (_request, reply) => prometheus(reply));

  app.post('/api/v1/scheduler', async (request, reply) => {
    const call = scheduler.validateCall(withoutNullFields(request.body));
    if (call.type === 'SUBSCRIBE') {
      if (request.headers['mesos-stream-id'] !== undefined) {
        throw new DroverError('MALFORMED', "Subscribe calls should not include the 'Mesos-Stream-Id' header");
      }
      const stream = new EventStream(reply.raw);
      await streamFrom(reply, stream, () => scheduler.subscribe(master, call as Parameters<typeof scheduler.subscribe>[1], stream));
      return;
    }
    const framework = scheduler.callingFramework(master, call, header(request.headers['mesos-stream-id']));
    await scheduler.dispatchAsLeader(master, framework, call);
    return reply.status(202).send();
  });

  app.post('/api/v1/agent', async (request, reply) => {
    const call = parseCall(agentCalls, request.body, 'agent call');
    if (call.type === 'REGISTER') {
      if (call.register === undefined) {
        throw new DroverError('MALFORMED', "Expecting 'register' to be present", { details: [{ path: '/register', errors: ['is required for REGISTER'] }] });
      }
      const registration = call as Parameters<typeof agents.register>[1];
      const total = agents.checkRegistration(registration);
      const stream = new EventStream(reply.raw);
      const peer = peerIdentity(request.raw.socket);
      const issuer = peer.kind === 'agent' ? (request.raw.socket as TLSSocket).getPeerX509Certificate?.()?.issuer : undefined;
      await streamFrom(reply, stream, () => agents.register(master, registration, total, stream, request.socket.remoteAddress, peer.kind === 'agent', issuer));
      return;
    }
    const agent = agents.callingAgent(master, call, header(request.headers[AGENT_STREAM_HEADER]));
    if (call.type === 'UPDATE') {
      if (call.update === undefined) {
        throw new DroverError('MALFORMED', "Expecting 'update' to be present", { details: [{ path: '/update', errors: ['is required for UPDATE'] }] });
      }
      agents.update(master, agent, call);
    }
    return reply.status(202).send();
  });

  // Agents' usage reports and the UI's series (usage-routes.ts).
  registerUsageRoutes(app, master);

  // An agent launching a task asks for the values of the secrets the task references (task-secrets.ts).
  app.post('/api/v1/agent/secrets', async (request, reply) => {
    const call = parseCall(agentSecretsCalls, request.body, 'agent secrets call');
    const agent = agents.callingAgent(master, { type: 'HEARTBEAT', agent_id: call.agent_id }, header(request.headers[AGENT_STREAM_HEADER]));
    // Never cached anywhere on the way back.
    return reply.header('cache-control', 'no-store').send(await resolveTaskSecrets(master, agent, call));
  });
}

function parseCall<T>(validator: { validate(v: unknown, message?: string): T }, body: unknown, what: string): T {
  return scheduler.validateAs400(() => validator.validate(body, `Failed to validate ${what}`));
}

/**
 * Hand the response over to an event stream. Until the stream is opened, a failure is still an
 * ordinary error response; after that, the stream just ends.
 */
async function streamFrom(reply: FastifyReply, stream: EventStream, start: () => Promise<void>): Promise<void> {
  reply.hijack();
  try {
    await start();
  } catch (e) {
    const error = e instanceof DroverError ? e : new DroverError('STORE_UNAVAILABLE', 'Could not persist the subscription', { cause: e });
    if (!reply.raw.headersSent) {
      reply.raw.writeHead(error.status, { 'content-type': 'application/json' });
      reply.raw.end(JSON.stringify(error.toJSON()));
    } else stream.close();
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
