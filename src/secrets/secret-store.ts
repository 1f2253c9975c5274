/**
 * The cluster's secret store (DC/OS' `default` store): values encrypted with AES-256-GCM, a fresh
 * random 96-bit nonce per write, the secret's path bound in as associated data (a ciphertext
 * copied to another path does not decrypt), kept in the cluster Store so every master of an HA
 * set reads the same secrets. The key never enters the Store (key-file.ts).
 *
 *   /drover/secrets/default/<path>   {"v":1,"nonce":b64,"data":b64(ciphertext‖tag),"created":ms,"updated":ms}
 *
 * Values never leave this class except through `get` (the secrets API, to a caller allowed to read
 * them) and `resolve` (the master, for a task's launch); nothing here logs a value.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DroverError } from '../errors/errors.ts';
import { canonicalSecretPath, secretPathProblem } from '../protocol/mesos/secrets.ts';
import type { Store } from '../store/store.ts';

export const SECRETS_PREFIX = '/drover/secrets/default';
/** A secret's value is at most this big (DC/OS' limit is 1 MB too). */
export const MAX_SECRET_BYTES = 1024 * 1024;
/** Names one list answers with at most. */
export const MAX_LIST = 10_000;

interface StoredSecret {
  v: 1;
  nonce: string;
  data: string;
  created: number;
  updated: number;
}

export class SecretStore {
  constructor(
    private readonly store: Store,
    /** Undefined when no key was given: secrets can be listed and deleted, not written or read. */
    private readonly key: Buffer | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get sealed(): boolean {
    return this.key === undefined;
  }

  /**
   * At start: refuse (DROVER_ERR_SECRETS_KEY) when secrets exist and the key is missing or is not
   * the one they were written with — an authenticated decrypt of one of them fails. Starting
   * anyway would launch tasks that cannot get their secrets.
   */
  async verifyKey(): Promise<void> {
    const { kvs } = await this.store.range(`${SECRETS_PREFIX}/`, { limit: 1 });
    const first = kvs[0];
    if (first === undefined) return;
    const path = first.key.slice(SECRETS_PREFIX.length);
    if (this.key === undefined)
      throw new DroverError('SECRETS_KEY', `The store holds secrets (e.g. ${path}) but no secrets key was given: pass --secrets-key-file with the key they were written with`);
    try {
      this.decrypt(path, first.value);
    } catch (e) {
      throw new DroverError('SECRETS_KEY', `The secrets key does not open the store's secrets (${path} fails to decrypt): wrong --secrets-key-file?`, { cause: e });
    }
  }

  /** DC/OS' PUT: create; 409 when it exists. */
  async create(path: string, value: Buffer): Promise<void> {
    const key = this.storeKey(path);
    const sealed = this.encrypt(key, value, this.now());
    const { succeeded } = await this.store.txn({ compare: [{ key, target: 'version', op: '=', value: 0 }], success: [{ type: 'put', key, value: sealed }] });
    if (!succeeded) throw new DroverError('CONFLICT', `Secret ${canonicalSecretPath(path)} already exists`);
  }

  /** DC/OS' PATCH: replace the value; 404 when it does not exist. */
  async update(path: string, value: Buffer): Promise<void> {
    const key = this.storeKey(path);
    const current = await this.store.get(key);
    if (current === undefined) throw notFound(path);
    const created = (JSON.parse(current.value) as StoredSecret).created;
    const sealed = this.encrypt(key, value, created);
    const { succeeded } = await this.store.txn({ compare: [{ key, target: 'modRevision', op: '=', value: current.modRevision }], success: [{ type: 'put', key, value: sealed }] });
    if (!succeeded) throw new DroverError('CONFLICT', `Secret ${canonicalSecretPath(path)} changed meanwhile; retry`);
  }

  async get(path: string): Promise<Buffer | undefined> {
    const key = this.storeKey(path);
    const kv = await this.store.get(key);
    if (kv === undefined) return undefined;
    this.requireKey();
    return this.decrypt(key.slice(SECRETS_PREFIX.length), kv.value);
  }

  async delete(path: string): Promise<void> {
    const { deleted } = await this.store.delete(this.storeKey(path));
    if (!deleted) throw notFound(path);
  }

  /** Paths under `dir` ('' or '/' = all), relative to it, as DC/OS lists them. */
  async list(dir: string): Promise<string[]> {
    const base = dir === '' || dir === '/' ? '' : canonicalSecretPath(dir).replace(/\/$/, '');
    if (base !== '') check(base);
    const prefix = `${SECRETS_PREFIX}${base}/`;
    const { kvs } = await this.store.range(prefix, { limit: MAX_LIST });
    return kvs.map((kv) => kv.key.slice(prefix.length));
  }

  /**
   * For a task's launch (or, later, an image pull): the values of these paths, or the paths that do
   * not exist. Never throws for a missing secret: the caller says which ones the task lacks.
   */
  async resolve(paths: readonly string[]): Promise<{ values: Map<string, Buffer>; missing: string[] }> {
    const values = new Map<string, Buffer>();
    const missing: string[] = [];
    for (const path of paths) {
      if (secretPathProblem(path) !== undefined) {
        missing.push(path);
        continue;
      }
      const value = await this.get(path);
      if (value === undefined) missing.push(path);
      else values.set(canonicalSecretPath(path), value);
    }
    return { values, missing };
  }

  private storeKey(path: string): string {
    check(path);
    return `${SECRETS_PREFIX}${canonicalSecretPath(path)}`;
  }

  private requireKey(): Buffer {
    if (this.key === undefined) throw new DroverError('SECRETS_SEALED', 'This master has no secrets key (--secrets-key-file): secrets cannot be written or read');
    return this.key;
  }

  private encrypt(storeKey: string, value: Buffer, created: number): string {
    const key = this.requireKey();
    if (value.length > MAX_SECRET_BYTES) throw new DroverError('VALIDATION', 'Secret is too large', { details: [{ path: '/value', errors: [`at most ${MAX_SECRET_BYTES} bytes`] }] });
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad(storeKey.slice(SECRETS_PREFIX.length)));
    const data = Buffer.concat([cipher.update(value), cipher.final(), cipher.getAuthTag()]);
    const record: StoredSecret = { v: 1, nonce: nonce.toString('base64'), data: data.toString('base64'), created, updated: this.now() };
    return JSON.stringify(record);
  }

  private decrypt(path: string, stored: string): Buffer {
    const key = this.requireKey();
    const record = JSON.parse(stored) as StoredSecret;
    const data = Buffer.from(record.data, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(record.nonce, 'base64'));
    decipher.setAAD(aad(path));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]);
  }
}

function aad(path: string): Buffer {
  return Buffer.from(`drover-secret-v1:default:${path}`);
}

function check(path: string): void {
  const problem = secretPathProblem(path);
  if (problem !== undefined) throw new DroverError('VALIDATION', 'Invalid secret path', { details: [{ path: '/path', errors: [problem] }] });
}

function notFound(path: string): DroverError {
  return new DroverError('NOT_FOUND', `Secret ${canonicalSecretPath(path)} does not exist`);
}
