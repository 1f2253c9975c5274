/**
 * The client side of the cluster's TLS: a fetch that trusts the cluster CA (not the system's
 * roots: a master's certificate is the cluster's own) and, for an agent, presents its client
 * certificate. undici (Node's own HTTP client, as a package) because the fetch built into Node
 * takes no TLS options; one Agent per identity keeps its connections alive.
 */
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import { agentIdOfSan } from './tls-identity.ts';

/** A `checkServerIdentity` for a connection to one agent: its certificate must bind `agentId`. */
export function agentCheck(cert: PeerCertificate, agentId: string): Error | undefined {
  const named = agentIdOfSan(cert.subjectaltname);
  return named === agentId ? undefined : new Error(`the server's certificate is for agent ${named ?? '(none)'}, not ${agentId}`);
}

export interface ClientTls {
  /** The cluster CA's certificate (PEM). */
  caPem: string;
  /** The client certificate and its key (PEM), for mTLS. */
  certPem?: string;
  keyPem?: string;
  /**
   * The server must be this agent: its certificate (of the cluster CA) must bind this agent id.
   * Replaces the host name check — the master reaches an agent at the address its registration
   * came from, and what proves who answers there is the certificate.
   */
  expectAgentId?: string;
  /** Connections per master at most (default 8): a REGISTER stream holds one for its life. */
  connections?: number;
}

/**
 * What connections of one identity share: one SecureContext (the CA, certificate and key parsed
 * once, not at every connection — which cost a hollow agent fleet seconds of CPU per thousand
 * connections), kept alive past an agent's heartbeat interval, a bounded number per master, TLS
 * sessions resumed on new connections (undici keeps the master's session tickets), and a connect
 * timeout that survives a loaded machine (undici's 10 s cut handshakes off and made new ones).
 */
export function tlsDispatcher(tls: ClientTls): Agent {
  const withCertificate = tls.certPem !== undefined && tls.keyPem !== undefined;
  const secureContext = withCertificate ? createSecureContext({ ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' }) : trustOnly(tls.caPem);
  return new Agent({
    // An agent's heartbeat comes every 15 s: kept alive past it (the master keeps 72 s), each call
    // rides the open connection instead of a new TLS handshake (undici's default is 4 s).
    keepAliveTimeout: 60_000,
    // Per master: an agent's REGISTER stream, its batched status updates, a heartbeat, and the odd
    // question (secrets, authorize) — more would only be more handshakes; the rest wait their turn.
    connections: tls.connections ?? MAX_CONNECTIONS_PER_ORIGIN,
    connect: {
      secureContext,
      timeout: CONNECT_TIMEOUT_MS,
      ...(tls.expectAgentId === undefined ? {} : { checkServerIdentity: (_host: string, cert: PeerCertificate) => agentCheck(cert, tls.expectAgentId!) }),
    },
  });
}

const MAX_CONNECTIONS_PER_ORIGIN = 8;

/** Contexts that only trust a CA (no certificate of their own): one per CA, shared (a process knows one or two). */
const trusting = new Map<string, SecureContext>();
function trustOnly(caPem: string): SecureContext {
  let context = trusting.get(caPem);
  if (context === undefined) {
    if (trusting.size >= 16) trusting.clear();
    context = createSecureContext({ ca: caPem, minVersion: 'TLSv1.2' });
    trusting.set(caPem, context);
  }
  return context;
}
const CONNECT_TIMEOUT_MS = 30_000;

export function tlsFetch(tls: ClientTls): typeof fetch {
  const dispatcher = tlsDispatcher(tls);
  return ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
}
