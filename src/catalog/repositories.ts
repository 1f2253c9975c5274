/**
 * The package repositories a master knows (Cosmos' `/package/repository/*`): an ordered list
 * `[{name, uri}]` in the Store (one key, written with compare-and-set, so HA masters agree),
 * each repository's packages fetched on demand and cached for CACHE_MS.
 *
 * Where a repository may come from:
 * - `http(s)://…`: fetched with a timeout and a size bound; redirects followed only to http(s);
 *   a Universe index (v3/v4/v5 media type, or plain JSON);
 * - `file:///dir` or `file:///index.json`: only under a directory the operator allowed
 *   (`--catalog-local-path`); a package tree or an index file;
 * - `builtin:universe`: the repository shipped with Drover (catalog/universe/ in the source tree).
 */
import { stat } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Store } from '../store/store.ts';
import { CosmosError } from './errors.ts';
import type { PackageDefinition } from './package-definition.ts';
import { indexVersionOf, loadPackageTree, parseRepositoryIndex } from './repository-index.ts';

export interface Repository {
  name: string;
  uri: string;
}

export const REPOSITORIES_KEY = '/drover/catalog/repositories';
export const BUILTIN_URI = 'builtin:universe';
export const BUILTIN_DIR = resolve(import.meta.dirname, '..', '..', 'catalog', 'universe');
export const DEFAULT_REPOSITORIES: readonly Repository[] = [{ name: 'Universe', uri: BUILTIN_URI }];
export const MAX_REPOSITORIES = 64;
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;
export const FETCH_TIMEOUT_MS = 30_000;
export const CACHE_MS = 60_000;
const MAX_REDIRECTS = 3;
const MAX_URI = 2048;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

/** What Cosmos asks a Universe server for (newest format first). */
export const REPO_ACCEPT = ['v5', 'v4', 'v3'].map((v) => `application/vnd.dcos.universe.repo+json;charset=utf-8;version=${v}`).join(',');

export interface RepositoriesOptions {
  store: Store;
  /** Directories under which `file://` repositories may live (the operator's flag); none = no local repositories. */
  localPaths?: readonly string[];
  now?: () => number;
  fetchImpl?: typeof fetch;
}

export class Repositories {
  private readonly store: Store;
  private readonly localPaths: readonly string[];
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch;
  private readonly cache = new Map<string, { at: number; packages: PackageDefinition[] }>();

  constructor(options: RepositoriesOptions) {
    this.store = options.store;
    this.localPaths = (options.localPaths ?? []).map((p) => resolve(p));
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetchImpl ?? fetch;
  }

  async list(): Promise<Repository[]> {
    const kv = await this.store.get(REPOSITORIES_KEY);
    return kv === undefined ? [...DEFAULT_REPOSITORIES] : (JSON.parse(kv.value) as Repository[]);
  }

  /** Adds at `index` (default: the end), after fetching it once: a repository that cannot be read is refused. */
  async add(name: unknown, uri: unknown, index: unknown): Promise<Repository[]> {
    if (typeof name !== 'string' || !NAME.test(name)) throw repoError('MalformedRequest', '/name', 'must be 1–64 letters, digits, spaces, ".", "_" or "-"');
    if (typeof uri !== 'string' || uri.length > MAX_URI) throw repoError('MalformedRequest', '/uri', `must be a URI of at most ${MAX_URI} characters`);
    if (index !== undefined && (typeof index !== 'number' || !Number.isInteger(index) || index < 0)) throw repoError('MalformedRequest', '/index', 'must be a non-negative integer');
    this.checkUri(uri);
    const admissible = (list: Repository[]): void => {
      if (list.some((r) => r.name === name)) throw new CosmosError('RepositoryAlreadyPresent', `Repository name [${name}] is already present in the list`, 409, { name });
      if (list.some((r) => r.uri === uri)) throw new CosmosError('RepositoryAlreadyPresent', `Repository URI [${uri}] is already present in the list`, 409, { uri });
      if (list.length >= MAX_REPOSITORIES) throw repoError('MalformedRequest', '/', `at most ${MAX_REPOSITORIES} repositories`);
      if (typeof index === 'number' && index > list.length) {
        throw new CosmosError('RepositoryAddIndexOutOfBounds', `Index (${index}) is out of range. Index value must be between 0 and ${list.length} inclusive.`, 400, {
          attempted: index,
          max: list.length,
        });
      }
    };
    // Checked before the fetch (no network for a request refused anyway), and again on the list the write replaces.
    admissible(await this.list());
    await this.packagesOf({ name, uri }, true);
    return this.update((list) => {
      admissible(list);
      const at = typeof index === 'number' ? index : list.length;
      return [...list.slice(0, at), { name, uri }, ...list.slice(at)];
    });
  }

  async remove(name: unknown, uri: unknown): Promise<Repository[]> {
    if (name === undefined && uri === undefined) throw repoError('MalformedRequest', '/name', 'name or uri is required');
    return this.update((list) => {
      const next = list.filter((r) => !((name !== undefined && r.name === name) || (uri !== undefined && r.uri === uri)));
      if (next.length === list.length)
        throw new CosmosError(
          'RepositoryNotPresent',
          `Repository ${name !== undefined ? `name [${String(name)}]` : `URI [${String(uri)}]`} is not present in the list`,
          400,
          name !== undefined ? { name } : { uri },
        );
      return next;
    });
  }

  /** Compare-and-set on the one key: a concurrent change (another master) is retried on the new list. */
  private async update(change: (list: Repository[]) => Repository[]): Promise<Repository[]> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const kv = await this.store.get(REPOSITORIES_KEY);
      const list = kv === undefined ? [...DEFAULT_REPOSITORIES] : (JSON.parse(kv.value) as Repository[]);
      const next = change(list);
      const { succeeded } = await this.store.txn({
        compare: [{ key: REPOSITORIES_KEY, target: 'modRevision', op: '=', value: kv?.modRevision ?? 0 }],
        success: [{ type: 'put', key: REPOSITORIES_KEY, value: JSON.stringify(next) }],
      });
      if (succeeded) return next;
    }
    throw new CosmosError('ConcurrentAccess', 'The repository list kept changing; retry', 409);
  }

  /** Every repository's packages, in list order (a repository that cannot be read is an error, as in Cosmos). */
  async all(): Promise<Array<{ repository: Repository; packages: PackageDefinition[] }>> {
    const out = [];
    for (const repository of await this.list()) out.push({ repository, packages: await this.packagesOf(repository) });
    return out;
  }

  async packagesOf(repository: Repository, fresh = false): Promise<PackageDefinition[]> {
    const cached = this.cache.get(repository.uri);
    if (!fresh && cached !== undefined && this.now() - cached.at < CACHE_MS) return cached.packages;
    const packages = await this.read(repository);
    this.cache.set(repository.uri, { at: this.now(), packages });
    return packages;
  }

  private checkUri(uri: string): void {
    if (uri === BUILTIN_URI) return;
    let parsed: URL;
    try {
      parsed = new URL(uri);
    } catch {
      throw new CosmosError('RepositoryUriSyntax', `The URI [${uri}] is not valid`, 400, { uri });
    }
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return;
    if (parsed.protocol === 'file:') {
      this.localPath(parsed);
      return;
    }
    throw new CosmosError('UnsupportedRepositoryUri', `Repository URI [${uri}] uses an unsupported scheme; only http, https and (under an allowed directory) file are supported`, 400, { uri });
  }

  private localPath(parsed: URL): string {
    const path = resolve(fileURLToPath(parsed));
    if (!this.localPaths.some((dir) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep))) {
      throw new CosmosError('UnsupportedRepositoryUri', `Local repository ${path} is not under a directory the operator allowed (--catalog-local-path)`, 400, { uri: parsed.href });
    }
    return path;
  }

  private async read(repository: Repository): Promise<PackageDefinition[]> {
    const { uri } = repository;
    this.checkUri(uri);
    try {
      if (uri === BUILTIN_URI) return await loadPackageTree(BUILTIN_DIR);
      const parsed = new URL(uri);
      if (parsed.protocol === 'file:') {
        const path = this.localPath(parsed);
        if ((await stat(path)).isDirectory()) return await loadPackageTree(path);
        return parseRepositoryIndex(parseIndexText(await readFile(path, 'utf8')));
      }
      return await this.fetchIndex(parsed);
    } catch (e) {
      if (e instanceof CosmosError) throw new CosmosError(e.type, `Repository [${repository.name}]: ${e.message}`, e.status, { ...e.data, repository: repository.name });
      throw new CosmosError('RepositoryUriConnection', `Could not read repository [${repository.name}] at ${uri}: ${(e as Error).message}`, 400, { uri, repository: repository.name });
    }
  }

  private async fetchIndex(start: URL): Promise<PackageDefinition[]> {
    let url = start;
    for (let hop = 0; ; hop++) {
      const response = await this.fetchImpl(url, {
        redirect: 'manual',
        headers: { accept: REPO_ACCEPT, 'user-agent': 'cosmos/drover-0.1.0 dcos/2.2.0' },
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel();
        const next = new URL(location, url);
        if ((next.protocol !== 'http:' && next.protocol !== 'https:') || hop >= MAX_REDIRECTS) throw new Error(`redirect to ${next.protocol} or more than ${MAX_REDIRECTS} redirects refused`);
        url = next;
        continue;
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      const contentType = response.headers.get('content-type');
      if (contentType !== null && /zip/i.test(contentType)) throw new Error('zip repositories (Universe 1.7) are not supported; use an index (v3, v4 or v5)');
      const text = await readBounded(response, MAX_INDEX_BYTES);
      return parseRepositoryIndex(parseIndexText(text), indexVersionOf(contentType) ?? 'v5');
    }
  }
}

function parseIndexText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CosmosError('IndexNotFound', `Repository index is not JSON: ${(e as Error).message}`, 400);
  }
}

async function readBounded(response: Response, max: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > max) {
    await response.body?.cancel();
    throw new Error(`index larger than ${max} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new Error(`index larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function repoError(type: string, path: string, reason: string): CosmosError {
  return new CosmosError(type, `Invalid repository request: ${path}: ${reason}`, 400, { errors: [{ path, errors: [reason] }] });
}

/** For tests and the README: where the built-in repository's files are. */
export const builtinPackageDir = (letter: string, name: string, release: number): string => join(BUILTIN_DIR, 'packages', letter, name, String(release));
