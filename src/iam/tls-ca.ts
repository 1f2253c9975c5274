/**
 * The cluster CA: an EC P-256 key and a self-signed certificate generated at the first start of a
 * cluster and kept in the Store (`/iam/ca`, written with a compare-and-set so masters starting at
 * once agree on one CA, and HA standbys share it). With a seal key (the master derives one from
 * the secret store's key, which never enters the Store) the CA's private key is kept
 * AES-256-GCM-encrypted: a copy of the store holds only ciphertext.
 *
 * It issues:
 * - the master's server certificate (its hostnames and IPs; URI SAN `urn:drover:master`), made
 *   fresh at every start;
 * - an agent's certificate from the CSR the agent sends with its bootstrap registration (as a
 *   kubelet's TLS bootstrap): the subject and the URI SAN `urn:drover:agent:<id>` are the master's
 *   choice, never the CSR's — that SAN is what binds the certificate to the agent id.
 *
 * X.509 encoding is @peculiar/x509 (WebCrypto, EC keys, CSRs; node-forge has no EC certificates),
 * verification is Node's own TLS and `X509Certificate`.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createCipheriv, createDecipheriv, hkdfSync, type KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { DroverError } from '../errors/errors.ts';
import type { Store } from '../store/store.ts';
import { AGENT_URI_PREFIX, MASTER_URI } from './tls-identity.ts';
import { caCertHash } from './tls-pin.ts';

x509.cryptoProvider.set(webcrypto as never);

export const CA_KEY = '/iam/ca';
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600 * 1000;
/** A CA outlives the certificates it signs: ten years, as kubeadm's. */
const CA_TTL_MS = 3650 * DAY_MS;
/** Kubernetes' default `--cluster-signing-duration`: one year. */
export const AGENT_CERT_TTL_MS = 365 * DAY_MS;
const MAX_CSR_LENGTH = 8192;
/** Agent ids the master assigns; anything else never reaches a certificate. */
const AGENT_ID = /^[A-Za-z0-9._-]{1,128}$/;

interface StoredCa {
  cert: string;
  /** PKCS#8 PEM, or `sealed:<iv>.<tag>.<ciphertext>` (base64) with a seal key. */
  key: string;
  /** During a rotation (docs/architecture/018-ca-rotation.md): the CA being replaced, still trusted. */
  previous?: { cert: string; key: string };
}

export interface CertifiedKey {
  certPem: string;
  keyPem: string;
}

export interface ClusterCaOptions {
  /** 32 bytes; the CA key is kept encrypted with a key derived from it. */
  sealKey?: Buffer;
  now?: () => number;
}

/** One CA: its certificate and signing key. */
interface Signer {
  certPem: string;
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
}

/** What `GET /tls/v1/ca` shows of a CA. */
export interface CaSummary {
  subject: string;
  /** sha256 of its SubjectPublicKeyInfo, as `--master-ca-hash` takes it. */
  hash: string;
  validTo: string;
}

export class ClusterCa {
  private constructor(
    private readonly current: Signer,
    private readonly previous: Signer | undefined,
    private readonly now: () => number,
  ) {}

  /** The CA that signs agents' certificates (the new one during a rotation). */
  get certPem(): string {
    return this.current.certPem;
  }

  /** Every CA certificate trusted now, the signing one first: the new and the old during a rotation. */
  get bundlePem(): string {
    return this.previous === undefined ? this.current.certPem : `${this.current.certPem.trimEnd()}\n${this.previous.certPem}`;
  }

  /**
   * The CA of the master's own certificates (server and relay client): the old one until a
   * rotation is finished, so agents and clients that trust only it keep reaching the master.
   */
  get servingCertPem(): string {
    return (this.previous ?? this.current).certPem;
  }

  /** Is a rotation under way (two CAs trusted)? */
  get rotating(): boolean {
    return this.previous !== undefined;
  }

  /** The subject (distinguished name) of the signing CA: an agent certificate's issuer names it. */
  get subject(): string {
    return new X509Certificate(this.current.certPem).subject;
  }

  summary(): { current: CaSummary; previous?: CaSummary } {
    return { current: summarize(this.current.certPem), ...(this.previous === undefined ? {} : { previous: summarize(this.previous.certPem) }) };
  }

  /** The cluster's CA from the store, generated at the first start. */
  static async open(store: Store, options: ClusterCaOptions = {}): Promise<ClusterCa> {
    const now = options.now ?? Date.now;
    const seal = sealKeyOf(options);
    let stored = await store.get(CA_KEY);
    if (!stored) {
      const generated = await generateCa(now(), seal);
      // Another master may be generating one at the same moment: the first write wins, all use it.
      await store.txn({ compare: [{ key: CA_KEY, target: 'version', op: '=', value: 0 }], success: [{ type: 'put', key: CA_KEY, value: JSON.stringify(generated) }] });
      stored = await store.get(CA_KEY);
      if (!stored) throw new DroverError('STORE_UNAVAILABLE', 'The cluster CA could not be stored');
    }
    const record = JSON.parse(stored.value) as StoredCa;
    const current = await signerOf(record.cert, record.key, seal);
    const previous = record.previous === undefined ? undefined : await signerOf(record.previous.cert, record.previous.key, seal);
    return new ClusterCa(current, previous, now);
  }

  /**
   * Starts a rotation: a new CA signs from now on; the current one becomes `previous`, still
   * trusted (and still the CA of the master's own certificates) until `finishRotation`. Refused
   * while a rotation is under way. Compare-and-set on the stored record: two at once, one wins.
   */
  static async rotate(store: Store, options: ClusterCaOptions = {}): Promise<ClusterCa> {
    const now = options.now ?? Date.now;
    const seal = sealKeyOf(options);
    const stored = await store.get(CA_KEY);
    if (!stored) throw new DroverError('NOT_FOUND', 'This cluster has no CA (TLS is off)');
    const record = JSON.parse(stored.value) as StoredCa;
    if (record.previous !== undefined) throw new DroverError('CONFLICT', 'A CA rotation is under way already: finish it first (drover ca finish)');
    const generated = await generateCa(now(), seal);
    await putIfUnchanged(store, stored.version, { ...generated, previous: { cert: record.cert, key: record.key } });
    return ClusterCa.open(store, options);
  }

  /** Ends a rotation: the previous CA is forgotten (its key too); only the new one is trusted. */
  static async finishRotation(store: Store, options: ClusterCaOptions = {}): Promise<ClusterCa> {
    const stored = await store.get(CA_KEY);
    if (!stored) throw new DroverError('NOT_FOUND', 'This cluster has no CA (TLS is off)');
    const record = JSON.parse(stored.value) as StoredCa;
    if (record.previous === undefined) throw new DroverError('CONFLICT', 'No CA rotation is under way (drover ca rotate starts one)');
    await putIfUnchanged(store, stored.version, { cert: record.cert, key: record.key });
    return ClusterCa.open(store, options);
  }

  /** The master's certificate for `names` (hostnames and IPs); also valid as a TLS client. Signed by the serving CA. */
  async issueMaster(names: readonly string[], ttlMs = AGENT_CERT_TTL_MS): Promise<CertifiedKey> {
    const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
    const sans: x509.JsonGeneralName[] = [{ type: 'url', value: MASTER_URI }];
    for (const name of new Set(names)) sans.push(isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name });
    const cert = await this.sign(this.previous ?? this.current, { subject: 'CN=drover-master', publicKey: keys.publicKey as webcrypto.CryptoKey, sans, ttlMs });
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey);
    return { certPem: cert, keyPem: toPem(Buffer.from(pkcs8), 'PRIVATE KEY') };
  }

  /**
   * The certificate of agent `agentId` for the key in `csrPem`. The CSR must be signed by its key
   * (it proves the agent holds it); its subject and extensions are ignored.
   */
  async signAgentCsr(csrPem: string, agentId: string, validity: { notBefore?: number; ttlMs?: number } = {}): Promise<string> {
    if (!AGENT_ID.test(agentId)) throw new DroverError('VALIDATION', `Agent id ${agentId.slice(0, 100)} cannot be certified`);
    let csr: x509.Pkcs10CertificateRequest;
    try {
      if (csrPem.length > MAX_CSR_LENGTH) throw new Error('too long');
      csr = new x509.Pkcs10CertificateRequest(csrPem);
      if (!(await csr.verify())) throw new Error('bad signature');
    } catch {
      throw new DroverError('VALIDATION', 'Invalid certificate signing request', {
        details: [{ path: '/register/csr', errors: [`a PEM PKCS#10 request (at most ${MAX_CSR_LENGTH} characters) signed by its key`] }],
      });
    }
    const publicKey = await csr.publicKey.export(EC, ['verify']);
    return this.sign(this.current, {
      subject: `CN=agent:${agentId}`,
      publicKey: publicKey as webcrypto.CryptoKey,
      sans: [{ type: 'url', value: `${AGENT_URI_PREFIX}${agentId}` }],
      ttlMs: validity.ttlMs ?? AGENT_CERT_TTL_MS,
      ...(validity.notBefore === undefined ? {} : { notBefore: validity.notBefore }),
    });
  }

  private async sign(signer: Signer, spec: { subject: string; publicKey: webcrypto.CryptoKey; sans: x509.JsonGeneralName[]; ttlMs: number; notBefore?: number }): Promise<string> {
    // Backdated a minute: a peer whose clock is a little behind must not see "not yet valid".
    const notBefore = spec.notBefore ?? this.now() - 60_000;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: spec.subject,
      issuer: signer.cert.subject,
      notBefore: new Date(notBefore),
      notAfter: new Date(notBefore + spec.ttlMs),
      publicKey: spec.publicKey,
      signingKey: signer.key,
      signingAlgorithm: EC,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(spec.sans),
        await x509.AuthorityKeyIdentifierExtension.create(signer.cert),
      ],
    });
    return cert.toString('pem');
  }
}

function sealKeyOf(options: ClusterCaOptions): Buffer | undefined {
  return options.sealKey === undefined ? undefined : Buffer.from(hkdfSync('sha256', options.sealKey, Buffer.alloc(0), 'drover-cluster-ca-key', 32));
}

async function signerOf(certPem: string, storedKey: string, seal: Buffer | undefined): Promise<Signer> {
  const keyPem = unseal(storedKey, seal);
  const key = await webcrypto.subtle.importKey('pkcs8', pemBody(keyPem), EC, false, ['sign']);
  return { certPem, cert: new x509.X509Certificate(certPem), key: key as webcrypto.CryptoKey };
}

async function putIfUnchanged(store: Store, version: number, record: StoredCa): Promise<void> {
  const result = await store.txn({ compare: [{ key: CA_KEY, target: 'version', op: '=', value: version }], success: [{ type: 'put', key: CA_KEY, value: JSON.stringify(record) }] });
  if (!result.succeeded) throw new DroverError('CONFLICT', 'The cluster CA changed meanwhile (another rotation?): read it again and retry');
}

function summarize(certPem: string): CaSummary {
  const cert = new X509Certificate(certPem);
  return { subject: cert.subject.replace(/\n/g, ', '), hash: caCertHash(certPem), validTo: new Date(cert.validTo).toISOString() };
}

/** A new agent key (P-256, PKCS#8 PEM) and a CSR for it. */
export async function newAgentKey(): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=drover-agent', keys: keys as webcrypto.CryptoKeyPair, signingAlgorithm: EC });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey);
  return { keyPem: toPem(Buffer.from(pkcs8), 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

/** A CSR for an agent's existing key (PKCS#8 PEM): a renewal keeps the key, so only the certificate file changes. */
export async function csrForKey(keyPem: string): Promise<string> {
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pemBody(keyPem), EC, true, ['sign']);
  // The public half of a P-256 private key, through its JWK (x, y are in it).
  const { d: _d, ...publicJwk } = (await webcrypto.subtle.exportKey('jwk', privateKey)) as webcrypto.JsonWebKey;
  const publicKey = await webcrypto.subtle.importKey('jwk', { ...publicJwk, key_ops: ['verify'] }, EC, true, ['verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=drover-agent', keys: { privateKey, publicKey } as webcrypto.CryptoKeyPair, signingAlgorithm: EC });
  return csr.toString('pem');
}

/** Is `cert` (PEM) signed by the CA `caPem` and valid at `now`? */
export function issuedBy(cert: X509Certificate, caPem: string, now: number = Date.now()): boolean {
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey as KeyObject)) return false;
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

async function generateCa(now: number, seal: Buffer | undefined): Promise<StoredCa> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=drover-cluster-ca-${randomBytes(4).toString('hex')}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CA_TTL_MS),
    keys: keys as webcrypto.CryptoKeyPair,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as webcrypto.CryptoKey),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey));
  const keyPem = toPem(pkcs8, 'PRIVATE KEY');
  return { cert: cert.toString('pem'), key: seal === undefined ? keyPem : sealText(keyPem, seal) };
}

function sealText(text: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return `sealed:${iv.toString('base64')}.${cipher.getAuthTag().toString('base64')}.${body.toString('base64')}`;
}

function unseal(stored: string, key: Buffer | undefined): string {
  if (!stored.startsWith('sealed:')) return stored;
  if (key === undefined) throw new DroverError('SECRETS_KEY', 'The cluster CA key is encrypted with the secrets key: start the master with the same secrets key file');
  const [iv, tag, body] = stored.slice('sealed:'.length).split('.');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv ?? '', 'base64'));
    decipher.setAuthTag(Buffer.from(tag ?? '', 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body ?? '', 'base64')), decipher.final()]).toString('utf8');
  } catch (cause) {
    throw new DroverError('SECRETS_KEY', 'The cluster CA key cannot be decrypted with this secrets key (a different key file?)', { cause });
  }
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  return bytes.toString('hex');
}

function toPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}
