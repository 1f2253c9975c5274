/**
 * What the TLS connection a request came on proves: nothing (plain HTTP, or TLS without a client
 * certificate), an agent id or the master role (a certificate of the cluster CA, verified by the
 * handshake against it: chain and validity dates), or that the certificate presented is not
 * trusted (another CA, expired, not yet valid) — which the guard refuses outright.
 *
 * Decided once per connection: the handshake is the same for every request on it.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';

export const MASTER_URI = 'urn:drover:master';
export const AGENT_URI_PREFIX = 'urn:drover:agent:';

export type PeerIdentity = { kind: 'plain' } | { kind: 'anonymous' } | { kind: 'agent'; agentId: string } | { kind: 'master' } | { kind: 'untrusted'; reason: string };

const PLAIN: PeerIdentity = { kind: 'plain' };
const seen = new WeakMap<Socket, PeerIdentity>();

export function peerIdentity(socket: Socket): PeerIdentity {
  if (!(socket instanceof TLSSocket)) return PLAIN;
  let identity = seen.get(socket);
  if (identity === undefined) {
    identity = decide(socket);
    seen.set(socket, identity);
  }
  return identity;
}

function decide(socket: TLSSocket): PeerIdentity {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return { kind: 'anonymous' };
  if (!socket.authorized) return { kind: 'untrusted', reason: String(socket.authorizationError ?? 'not signed by the cluster CA') };
  const agentId = agentIdOf(cert);
  if (agentId !== undefined) return { kind: 'agent', agentId };
  if (isMasterCertificate(cert)) return { kind: 'master' };
  // Signed by the cluster CA but naming no role of ours: proves nothing.
  return { kind: 'anonymous' };
}

/** The agent id a certificate of this cluster's CA binds (its `urn:drover:agent:<id>` SAN). */
export function agentIdOf(cert: X509Certificate): string | undefined {
  return agentIdOfSan(cert.subjectAltName);
}

/** The same from a SAN as Node writes it (`URI:urn:drover:agent:x, DNS:…`; a TLS peer certificate's `subjectaltname`). */
export function agentIdOfSan(san: string | undefined): string | undefined {
  return urisOf(san)
    .find((u) => u.startsWith(AGENT_URI_PREFIX))
    ?.slice(AGENT_URI_PREFIX.length);
}

/** Is this the certificate of a master of the cluster? */
export function isMasterCertificate(cert: X509Certificate): boolean {
  return urisOf(cert.subjectAltName).includes(MASTER_URI);
}

function urisOf(san: string | undefined): string[] {
  // Our ids and names hold no comma or quote, so a plain split is exact.
  return (san ?? '')
    .split(', ')
    .filter((part) => part.startsWith('URI:'))
    .map((part) => part.slice(4));
}

/** The first certificate (PEM) of a bundle, or undefined. Bundles are bounded by their message's schema. */
export function firstCertificate(bundlePem: string): string | undefined {
  const begin = bundlePem.indexOf('-----BEGIN CERTIFICATE-----');
  const endMarker = '-----END CERTIFICATE-----';
  const end = begin < 0 ? -1 : bundlePem.indexOf(endMarker, begin);
  return end < 0 ? undefined : `${bundlePem.slice(begin, end + endMarker.length)}\n`;
}

/**
 * When a certificate should be renewed: once two thirds of its lifetime have passed (kubelets
 * rotate at 70–90 %), so a renewal has a third of the lifetime to succeed in.
 */
export function renewalTime(cert: X509Certificate): number {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return from + ((to - from) * 2) / 3;
}
