/**
 * The client side of the cluster's TLS: a fetch that trusts the cluster CA (not the system's
 * roots: a master's certificate is the cluster's own) and, for an agent, presents its client
 * certificate. undici (Node's own HTTP client, as a package) because the fetch built into Node
 * takes no TLS options; one Agent per identity keeps its connections alive.
 */
import { Agent, fetch as undiciFetch } from 'undici';

export interface ClientTls {
  /** The cluster CA's certificate (PEM). */
  caPem: string;
  /** The client certificate and its key (PEM), for mTLS. */
  certPem?: string;
  keyPem?: string;
}

export function tlsFetch(tls: ClientTls): typeof fetch {
  const dispatcher = new Agent({
    connect: { ca: tls.caPem, ...(tls.certPem !== undefined && tls.keyPem !== undefined ? { cert: tls.certPem, key: tls.keyPem } : {}) },
  });
  return ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
}
