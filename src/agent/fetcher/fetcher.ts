/**
 * The fetcher: puts a task's CommandInfo.uris into its sandbox before the command starts, as the
 * Mesos fetcher does. `http://` and `https://` are downloaded with a timeout and a size cap;
 * `file://` URIs and plain absolute paths are copied only from under `allowedPaths` (the agent's
 * `--fetcher-allowed-paths`, default none); .tar, .tar.gz/.tgz and .zip are extracted into the
 * sandbox (the archive stays too) unless `extract: false`; `executable: true` sets mode 755 (and
 * is never extracted); `cache: true` keeps a copy under `cacheDir`, keyed by the URI, and reuses it
 * on the next fetch of that URI. Everything streams: no file is read into memory whole.
 *
 * This class does the work in whatever process runs it, as that process' user. The agent runs it
 * in a child process as the task's user (fetcher-process.ts), so the kernel's permission checks
 * are the task's, and the agent's event loop never carries a download or an extraction.
 *
 * Any failure rejects with a FetchError naming the URI and why; the supervisor turns it into
 * TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED).
 */
import { constants, createWriteStream } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, open, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../log/index.ts';
import { ArchiveError } from './archive-entry.ts';
import { archiveKind, extractArchive, safeSegments } from './archive-extract.ts';

export interface FetchUri {
  value: string;
  executable?: boolean;
  extract?: boolean;
  cache?: boolean;
  output_file?: string;
}

/**
 * What the task supervisor needs; the contract is "all URIs are in the sandbox, or it rejects".
 * `user` is who the task runs as (CommandInfo.user, else FrameworkInfo.user), when known.
 */
export interface UriFetcher {
  fetch(uris: readonly FetchUri[], sandbox: string, user?: string): Promise<void>;
}

export interface FetcherOptions {
  /** Where cached downloads live, e.g. `<workDir>/cache/fetcher`. */
  cacheDir: string;
  /** Per download, from request to last byte; default 5 min. */
  timeoutMs?: number;
  /** Largest file fetched; default 1 GiB. */
  maxBytes?: number;
  /** Largest total an archive may expand to; default 2 GiB. */
  maxExtractedBytes?: number;
  /** Most entries one archive may hold; default 100,000. */
  maxArchiveEntries?: number;
  /**
   * Absolute host directories whose files `file://` URIs and bare paths may name; default none,
   * so no host path is fetched. The file's real path (symlinks resolved) must be under one.
   */
  allowedPaths?: readonly string[];
  logger: Logger;
}

export class FetchError extends Error {
  override readonly name = 'FetchError';
  constructor(
    readonly uri: string,
    reason: string,
  ) {
    super(`Failed to fetch '${uri}': ${reason}`);
  }
}

class Refused extends Error {}

export class Fetcher implements UriFetcher {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxExtractedBytes: number;
  private readonly maxArchiveEntries: number;
  private readonly allowedPaths: readonly string[];
  private allowedRealPaths: Promise<string[]> | undefined;

  constructor(private readonly options: FetcherOptions) {
    this.timeoutMs = options.timeoutMs ?? 5 * 60_000;
    this.maxBytes = options.maxBytes ?? 1024 ** 3;
    this.maxExtractedBytes = options.maxExtractedBytes ?? 2 * 1024 ** 3;
    this.maxArchiveEntries = options.maxArchiveEntries ?? 100_000;
    this.allowedPaths = (options.allowedPaths ?? []).map((p) => resolve(p));
  }

  /** One URI after another, in order: a later archive may overwrite an earlier file on purpose. */
  async fetch(uris: readonly FetchUri[], sandbox: string): Promise<void> {
    for (const uri of uris) {
      try {
        await this.fetchOne(uri, sandbox);
      } catch (err) {
        const reason = err instanceof Refused || err instanceof ArchiveError ? err.message : describeError(err);
        this.options.logger.warn({ uri: uri.value, reason }, 'fetch-failed');
        throw new FetchError(uri.value, reason);
      }
    }
  }

  private async fetchOne(uri: FetchUri, sandbox: string): Promise<void> {
    const source = parseSource(uri.value);
    const name = uri.output_file !== undefined && uri.output_file !== '' ? uri.output_file : source.name;
    if (name === '') throw new Refused('cannot tell a file name from the URI; set output_file');
    let segments: string[];
    try {
      segments = safeSegments(name);
    } catch {
      throw new Refused(`output file ${JSON.stringify(name)} is not a relative path inside the sandbox`);
    }
    if (segments.length === 0) throw new Refused(`output file ${JSON.stringify(name)} names the sandbox itself`);
    const dest = join(sandbox, ...segments);
    // Before the cache too: a cached copy of a host file is no way around the allow-list.
    if (source.kind === 'file') this.checkAllowed(source.path);
    await mkdir(dirname(dest), { recursive: true });
    const started = Date.now();
    if (uri.cache === true) {
      const cached = join(this.options.cacheDir, createHash('sha256').update(uri.value).digest('hex'), 'content');
      if (await exists(cached)) {
        await copyFile(cached, dest);
        this.options.logger.info({ uri: uri.value, dest }, 'fetch-cache-hit');
      } else {
        await this.retrieve(source, dest);
        await mkdir(dirname(cached), { recursive: true });
        // temp + rename: a half-written cache entry is never mistaken for a whole one.
        const temp = `${cached}.${randomUUID()}.tmp`;
        await copyFile(dest, temp);
        await rename(temp, cached);
      }
    } else {
      await this.retrieve(source, dest);
    }
    if (uri.executable === true) {
      await chmod(dest, 0o755);
    } else if (uri.extract !== false) {
      await this.extract(dest, sandbox);
    }
    this.options.logger.info({ uri: uri.value, dest, ms: Date.now() - started }, 'fetched-uri');
  }

  private async retrieve(source: Source, dest: string): Promise<void> {
    if (source.kind === 'file') return this.copyHostFile(source.path, dest);
    await this.download(source.url, dest);
  }

  private checkAllowed(path: string): void {
    if (this.allowedPaths.some((root) => inside(root, resolve(path)))) return;
    const allowed = this.allowedPaths.length === 0 ? 'none are allowed on this agent' : `allowed: ${this.allowedPaths.join(', ')}`;
    throw new Refused(`host path ${path} is not under the agent's --fetcher-allowed-paths (${allowed})`);
  }

  /**
   * Opens first, then checks where the opened file really is: a symlink swapped in between a
   * check and the open cannot redirect the copy. O_NONBLOCK so a FIFO cannot hang the open.
   */
  private async copyHostFile(path: string, dest: string): Promise<void> {
    const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new Refused(`no such file ${path}`);
      if (err.code === 'EACCES') throw new Refused(`${path} is not readable by the task's user`);
      throw new Refused(describeError(err));
    });
    try {
      const real = await realpath(process.platform === 'linux' ? `/proc/self/fd/${file.fd}` : path);
      const roots = await (this.allowedRealPaths ??= Promise.all(this.allowedPaths.map((p) => realpath(p).catch(() => p))));
      if (!roots.some((root) => inside(root, real))) throw new Refused(`host path ${path} resolves to ${real}, outside the agent's --fetcher-allowed-paths`);
      const info = await file.stat();
      if (!info.isFile()) throw new Refused(`${path} is not a regular file`);
      if (info.size > this.maxBytes) throw new Refused(`file is ${info.size} bytes, over the ${this.maxBytes}-byte limit`);
      await pipeline(file.createReadStream({ autoClose: false }), createWriteStream(dest, { mode: 0o644 }));
    } finally {
      await file.close();
    }
  }

  private async download(url: string, dest: string): Promise<void> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { signal, redirect: 'follow' });
    } catch (err) {
      throw new Refused(signal.aborted ? `no answer within ${this.timeoutMs} ms` : describeError(err));
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      throw new Refused(`HTTP ${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`}`);
    }
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > this.maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new Refused(`download is ${declared} bytes, over the ${this.maxBytes}-byte limit`);
    }
    const file = await open(dest, 'w', 0o644);
    let bytes = 0;
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        if (bytes > this.maxBytes) throw new Refused(`download exceeds the ${this.maxBytes}-byte limit`);
        await file.write(chunk);
      }
    } catch (err) {
      await file.close();
      await rm(dest, { force: true });
      if (err instanceof Refused) throw err;
      throw new Refused(signal.aborted ? `download did not finish within ${this.timeoutMs} ms` : describeError(err));
    }
    await file.close();
  }

  private async extract(archive: string, sandbox: string): Promise<void> {
    const kind = archiveKind(archive);
    if (kind === undefined) return;
    const entries = await extractArchive(archive, kind, sandbox, { maxBytes: this.maxExtractedBytes, maxEntries: this.maxArchiveEntries });
    this.options.logger.info({ archive, entries }, 'extracted-archive');
  }
}

type Source = { kind: 'file'; path: string; name: string } | { kind: 'http'; url: string; name: string };

function parseSource(value: string): Source {
  if (isAbsolute(value)) return { kind: 'file', path: value, name: basename(value) };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Refused('not a URI or an absolute path');
  }
  const name = decodeURIComponent(basename(url.pathname));
  if (url.protocol === 'file:') return { kind: 'file', path: fileURLToPath(url), name };
  if (url.protocol === 'http:' || url.protocol === 'https:') return { kind: 'http', url: url.href, name };
  throw new Refused(`unsupported URI scheme '${url.protocol.replace(/:$/, '')}' (file, http and https are)`);
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function describeError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  // fetch() says only "fetch failed"; the cause says ECONNREFUSED or ENOTFOUND.
  if (e.cause?.code !== undefined) return `${e.message ?? 'error'} (${e.cause.code})`;
  return e.message ?? String(err);
}
