/**
 * `GET /agent/{agentId}/files/{browse|read|download|follow}?…`: the master relays an agent's
 * sandbox files API (src/agent/http/files.ts) to the caller, byte for byte, streams included.
 *
 * Why a relay and not CORS on the agent: the web UI is served from the master's origin and must
 * not need to resolve or reach every agent's hostname and port itself (a browser outside the
 * cluster network usually cannot); one origin also keeps the UI free of cross-origin rules.
 * Only these four read-only calls are relayed, only to registered agents, and the agent
 * still confines every path to its work dir. A follow stream ends when the caller goes away.
 *
 * No SSRF by construction: the master connects only to the address the agent's registration came
 * from (its socket's remote address, never the hostname it claims), at the numeric port it
 * registered, with a path the master builds; the query is passed on as parsed parameters. The
 * caller's credential goes along: the agent checks the caller's permission on the task.
 * With TLS, to an agent that proved its id with a certificate: HTTPS, presenting the master's
 * certificate, and the agent's must bind the agent id asked for (not merely be the CA's); to an
 * agent without one only on loopback (relayTarget).
 */
import type { Writable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DroverError } from '../../errors/errors.ts';
import type { Master } from '../master.ts';
import { isIP } from 'node:net';
import { isLoopbackAddress } from '../../iam/tls-server.ts';

/** How long the agent may take to start answering (a follow stream may then last forever). */
const HEADERS_TIMEOUT_MS = 10_000;
const OPERATIONS = new Set(['browse', 'read', 'download', 'follow']);
/** Response headers worth passing on; hop-by-hop ones (connection, transfer-encoding) are not. */
const PASSED = ['content-type', 'content-length', 'content-disposition', 'cache-control', 'x-content-type-options'];

/**
 * `credential(request)`: what the agent is given to check the caller with — with auth on, a
 * short-lived token that can only ask whether the caller may read a sandbox (src/iam/iam.ts), never
 * the caller's own token, which a rogue agent could replay.
 */
/**
 * Where the master reaches an agent: the address its registration came from, at the port it
 * registered, with a path the master builds. Over HTTPS (mTLS, the agent's certificate must bind
 * `agentId`) when the agent proved its id with a certificate; plain HTTP — which carries the
 * delegated token in clear — only to an agent at a loopback address (the same machine, as the
 * master's own plain port), else refused.
 */
export function relayTarget(master: Master, agentId: string, path: string): { url: URL; secure: boolean } {
  const agent = master.agents.get(agentId);
  if (!agent) throw new DroverError('NOT_FOUND', `Agent '${agentId}' is not registered`);
  if (agent.address === undefined || !Number.isInteger(agent.port) || agent.port < 1 || agent.port > 65535) {
    throw new DroverError('AGENT_UNREACHABLE', `Agent ${agentId} has no verified address`);
  }
  const secure = agent.certified === true && master.agentFetch !== undefined;
  if (!secure && master.agentFetch !== undefined && !isLoopbackAddress(agent.address)) {
    throw new DroverError('AGENT_UNREACHABLE', `Agent ${agentId} joined without a certificate: the master reaches it over mutual TLS only (join it with --master-ca or --master-ca-hash)`);
  }
  // An agent that registered from a loopback address is on this machine; when it listens on
  // another loopback address of it (`--host 127.0.0.2`), that one is as much this machine's, so it
  // is used. Never an address off this machine that the agent only claims.
  const claimed = agent.hostname;
  const address = isLoopbackAddress(agent.address) && isIP(claimed) !== 0 && isLoopbackAddress(claimed) ? claimed : agent.address;
  const host = address.includes(':') ? `[${address}]` : address;
  return { url: new URL(`${secure ? 'https' : 'http'}://${host}:${agent.port}${path}`), secure };
}

export function registerAgentFilesRoutes(app: FastifyInstance, master: Master, credential?: (request: FastifyRequest) => Promise<string | undefined>): void {
  app.get('/agent/:agentId/files/:operation', async (request, reply) => {
    const { agentId, operation } = request.params as { agentId: string; operation: string };
    if (!OPERATIONS.has(operation)) throw new DroverError('NOT_FOUND', `No route for GET /agent/${agentId}/files/${operation}`);
    const { url: target, secure } = relayTarget(master, agentId, `/files/${operation}`);
    for (const [name, value] of Object.entries(request.query as Record<string, string | string[]>)) {
      for (const v of Array.isArray(value) ? value : [value]) target.searchParams.append(name, v);
    }
    const delegated = credential === undefined ? undefined : await credential(request);
    const authorization = delegated === undefined ? undefined : `token=${delegated}`;
    const abort = new AbortController();
    // The response closes when the caller goes away (or when it is done): stop reading the agent.
    reply.raw.once('close', () => abort.abort());
    // An agent that accepts but never answers must not hold the caller forever.
    const timer = setTimeout(() => abort.abort(), HEADERS_TIMEOUT_MS);
    let upstream: Response;
    try {
      upstream = await (secure ? master.agentFetch!(agentId) : fetch)(target, { signal: abort.signal, ...(authorization === undefined ? {} : { headers: { authorization } }) });
    } catch (cause) {
      throw new DroverError('AGENT_UNREACHABLE', `Agent ${agentId} at ${target.host} did not answer`, { cause });
    } finally {
      clearTimeout(timer);
    }
    const headers: Record<string, string> = {};
    for (const name of PASSED) {
      const value = upstream.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    reply.hijack();
    reply.raw.writeHead(upstream.status, headers);
    reply.raw.flushHeaders();
    if (!upstream.body) {
      reply.raw.end();
      return;
    }
    try {
      for await (const chunk of upstream.body as unknown as AsyncIterable<Uint8Array>) {
        if (!reply.raw.write(chunk)) await drainedOrClosed(reply.raw);
        if (reply.raw.destroyed) break;
      }
    } catch {
      // The caller left (aborted) or the agent went away mid-stream: the response just ends.
    } finally {
      abort.abort();
      reply.raw.end();
    }
  });
}

/**
 * Resolves on 'drain' or 'close', whichever comes first, and leaves no listener behind. The relay
 * once waited with `once('drain').once('close')`: each wait a slow reader caused left a 'close'
 * listener on the response, so a follow stream kept open for hours by a slow client grew one
 * closure per backpressure pause.
 */
export function drainedOrClosed(stream: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done).once('close', done);
  });
}
