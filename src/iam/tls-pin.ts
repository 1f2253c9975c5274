/**
 * A first join without the CA file: the operator gives the agent the CA's hash instead
 * (`--master-ca-hash sha256:<hex>`, printed by `drover master` next to the bootstrap token), as
 * kubeadm's `--discovery-token-ca-cert-hash`. The hash is SHA-256 over the CA certificate's
 * SubjectPublicKeyInfo (DER), kubeadm's form, so a re-issued CA certificate for the same key
 * keeps its hash.
 *
 * The agent opens a TLS connection to the master without trusting anything yet, takes the chain
 * the master presents (the master sends the cluster CA after its own certificate), keeps only a CA
 * certificate whose key has the pinned hash and that really signed the master's certificate, and
 * from then on trusts that CA — and only it — like a CA file given with `--master-ca`.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { connect, type DetailedPeerCertificate } from 'node:tls';

export const CA_HASH_PREFIX = 'sha256:';
const PIN = /^sha256:[0-9a-f]{64}$/;
/** Chains are short (leaf, CA); a longer one is not ours. */
const MAX_CHAIN = 8;

/** `sha256:<hex>` of the certificate's SubjectPublicKeyInfo (kubeadm's CA pin). */
export function caCertHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return `${CA_HASH_PREFIX}${createHash('sha256').update(spki).digest('hex')}`;
}

/** Is `pin` of the `sha256:<64 hex>` form? (Upper-case hex is taken as lower.) */
export function parseCaHash(pin: string): string | undefined {
  const lower = pin.trim().toLowerCase();
  return PIN.test(lower) ? lower : undefined;
}

/**
 * The CA certificate (PEM) the master at `masterUrl` (https://) presents whose key hashes to
 * `pin` and that issued the master's certificate; rejects otherwise, saying why.
 */
export function discoverPinnedCa(masterUrl: string, pin: string, timeoutMs = 30_000): Promise<string> {
  const wanted = parseCaHash(pin);
  if (wanted === undefined) return Promise.reject(new Error(`a CA hash is sha256:<64 hex digits>, not ${pin.slice(0, 80)}`));
  const url = new URL(masterUrl);
  if (url.protocol !== 'https:') return Promise.reject(new Error(`a pinned CA is discovered over https://, not ${url.protocol}`));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? 443 : Number(url.port);
  return new Promise((resolve, reject) => {
    // Nothing is trusted yet: the pin is what decides, below.
    const socket = connect({ host, port, rejectUnauthorized: false, ...(isIpLiteral(host) ? {} : { servername: host }), timeout: timeoutMs });
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.once('timeout', () => fail(new Error(`no TLS handshake with ${url.host} in ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      try {
        const leaf = socket.getPeerCertificate(true);
        socket.end();
        resolve(pinnedIssuer(leaf, wanted, url.host));
      } catch (err) {
        fail(err as Error);
      }
    });
  });
}

function pinnedIssuer(leaf: DetailedPeerCertificate, wanted: string, where: string): string {
  if (leaf.raw === undefined) throw new Error(`${where} presented no certificate`);
  const server = new X509Certificate(leaf.raw);
  const seen: string[] = [];
  let link: DetailedPeerCertificate | undefined = leaf;
  for (let i = 0; i < MAX_CHAIN && link !== undefined; i++) {
    const cert = new X509Certificate(link.raw);
    const pem = cert.toString();
    const hash = caCertHash(pem);
    seen.push(hash);
    // The pinned CA must be a CA and must have signed the master's certificate (or be it).
    if (hash === wanted && cert.ca && (server.checkIssued(cert) ? server.verify(cert.publicKey) : server.fingerprint256 === cert.fingerprint256)) return pem;
    // A self-signed certificate ends the chain (Node repeats it as its own issuer).
    if (link.issuerCertificate === undefined || link.issuerCertificate === link || link.issuerCertificate.fingerprint256 === link.fingerprint256) break;
    link = link.issuerCertificate;
  }
  throw new Error(`the master at ${where} presents no CA with the pinned hash ${wanted} (its chain: ${seen.join(', ')}): it is not this cluster's master, or the hash is wrong`);
}

function isIpLiteral(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
