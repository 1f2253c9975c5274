/**
 * `POST /agent/{agentId}/tasks/exec?task_id=…&argv=…&tty=…`: the master relays an exec session
 * (src/agent/http/agent-http.ts `POST /tasks/exec`) to the agent running the task — the request
 * body (the command's stdin) to the agent and the RecordIO output back, both streamed at once.
 *
 * As the files relay (agent-files.ts relayTarget): only to a registered agent, at the address its
 * registration came from, with a path the master builds and the query passed on as parsed
 * parameters; with TLS over mutual TLS, the agent's certificate binding the agent id. The caller's
 * own token never goes to the agent: it gets a short-lived token that can only ask whether the
 * caller may open an exec session there (src/iam/iam.ts 'delegated'), and checks it with the
 * master as for any caller.
 *
 * node:https rather than fetch: an exec session is full duplex (stdin keeps flowing while output
 * arrives), which fetch's half-duplex request bodies cannot carry.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DroverError } from '../../errors/errors.ts';
import { agentCheck } from '../../iam/tls-client.ts';
import type { Master } from '../master.ts';
import { relayTarget } from './agent-files.ts';

/** How long the agent may take to answer the session's headers. */
const HEADERS_TIMEOUT_MS = 10_000;
const PASSED = ['content-type', 'cache-control', 'x-content-type-options'];

export interface ExecRelayOptions {
  /** The cluster CA and the master's client certificate (TLS on). */
  tls?: { caPem: string; certPem: string; keyPem: string };
  /** What the agent is given to check the caller with (auth on). */
  credential?: (request: FastifyRequest) => Promise<string | undefined>;
}

export function registerAgentExecRoute(app: FastifyInstance, master: Master, options: ExecRelayOptions = {}): void {
  app.register(async (scope) => {
    // The body is the command's stdin, streamed through unread.
    scope.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null, undefined));
    scope.post('/agent/:agentId/tasks/exec', async (request, reply) => {
      const { agentId } = request.params as { agentId: string };
      const { url: target, secure } = relayTarget(master, agentId, '/tasks/exec');
      for (const [name, value] of Object.entries(request.query as Record<string, string | string[]>)) {
        for (const v of Array.isArray(value) ? value : [value]) target.searchParams.append(name, v);
      }
      const delegated = options.credential === undefined ? undefined : await options.credential(request);
      const tls = secure ? options.tls : undefined;
      if (secure && tls === undefined) throw new DroverError('AGENT_UNREACHABLE', `Agent ${agentId}: the master has no client certificate to reach it with`);
      const upstream = (tls === undefined ? httpRequest : httpsRequest)(target, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/octet-stream', ...(delegated === undefined ? {} : { authorization: `token=${delegated}` }) },
        ...(tls === undefined ? {} : { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, checkServerIdentity: (_host: string, cert: Parameters<typeof agentCheck>[0]) => agentCheck(cert, agentId) }),
      });
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const timer = setTimeout(() => upstream.destroy(new Error('no answer in time')), HEADERS_TIMEOUT_MS);
        upstream.once('response', (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        upstream.once('error', (cause) => {
          clearTimeout(timer);
          reject(new DroverError('AGENT_UNREACHABLE', `Agent ${agentId} at ${target.host} did not answer`, { cause }));
        });
        upstream.flushHeaders();
        request.raw.pipe(upstream);
      });
      const headers: Record<string, string> = {};
      for (const name of PASSED) {
        const value = response.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      reply.hijack();
      reply.raw.writeHead(response.statusCode ?? 502, headers);
      reply.raw.flushHeaders();
      // The caller gone: the agent's connection is dropped, and the agent kills what the session started.
      reply.raw.once('close', () => upstream.destroy());
      response.once('error', () => reply.raw.destroy());
      response.pipe(reply.raw);
    });
  });
}
