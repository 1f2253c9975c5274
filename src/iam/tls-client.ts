/**
 * The client side of the cluster's TLS: a fetch that trusts the cluster CA (not the system's
 * roots: a master's certificate is the cluster's own) and, for an agent, presents its client
 * certificate. undici (Node's own HTTP client, as a package) because the fetch built into Node
 * takes no TLS options; one Agent per identity keeps its connections alive.
 */
import type { PeerCertificate } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import { agentIdOfSan } from './tls-identity.ts';

function agentCheck(cert: PeerCertificate, agentId: string): Error | undefined {
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
}

export function tlsFetch(tls: ClientTls): typeof fetch {
  const dispatcher = new Agent({
    // An agent's heartbeat comes every 15 s: kept alive past it (the master keeps 72 s), each call
    // rides the open connection instead of a new TLS handshake (undici's default is 4 s).
    keepAliveTimeout: 60_000,
    connect: {
      ca: tls.caPem,
      ...(tls.certPem !== undefined && tls.keyPem !== undefined ? { cert: tls.certPem, key: tls.keyPem } : {}),
      ...(tls.expectAgentId === undefined ? {} : { checkServerIdentity: (_host: string, cert: PeerCertificate) => agentCheck(cert, tls.expectAgentId!) }),
    },
  });
  return ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
}
