/**
 * The fetcher: puts a task's CommandInfo.uris into its sandbox before the command starts, as the
 * Mesos fetcher does. `file://` URIs and plain absolute paths are copied; `http://` and
 * `https://` are downloaded with a timeout and a size cap; .tar, .tar.gz/.tgz and .zip are
 * extracted into the sandbox (the archive stays too) unless `extract: false`; `executable: true`
 * sets mode 755 (and is never extracted); `cache: true` keeps a copy under the agent's work dir,
 * keyed by the URI, and reuses it on the next fetch of that URI.
 *
 * Any failure rejects with a FetchError naming the URI and why; the supervisor turns it into
 * TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED). Files are owned by the agent's user (root in
 * production) — the Linux containerizer is to chown sandboxes for `CommandInfo.user`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { Logger } from '../../log/index.ts';
import type { ArchiveEntry } from './archive-entry.ts';
import { ArchiveError } from './archive-entry.ts';
import { checkEntries, safeSegments, writeEntries } from './archive-extract.ts';
import { readTar } from './tar-reader.ts';
import { readZip } from './zip-reader.ts';

export interface FetchUri {
  value: string;
  executable?: boolean;
  extract?: boolean;
  cache?: boolean;
  output_file?: string;
}

/** What the task supervisor needs; the contract is "all URIs are in the sandbox, or it rejects". */
export interface UriFetcher {
  fetch(uris: readonly FetchUri[], sandbox: string): Promise<void>;
}

export interface FetcherOptions {
  /** Where cached downloads live, e.g. `<workDir>/cache/fetcher`. */
  cacheDir: string;
  /** Per download, from request to last byte; default 5 min. */
  timeoutMs?: number;
  /** Largest file fetched; default 1 GiB. */
  maxBytes?: number;
  /** Largest total an archive may expand to; default 2 GiB. Archives are read into memory. */
  maxExtractedBytes?: number;
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

  constructor(private readonly options: FetcherOptions) {
    this.timeoutMs = options.timeoutMs ?? 5 * 60_000;
    this.maxBytes = options.maxBytes ?? 1024 ** 3;
    this.maxExtractedBytes = options.maxExtractedBytes ?? 2 * 1024 ** 3;
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
    if (source.kind === 'file') {
      const info = await stat(source.path).catch((err: NodeJS.ErrnoException) => {
        throw new Refused(err.code === 'ENOENT' ? `no such file ${source.path}` : describeError(err));
      });
      if (!info.isFile()) throw new Refused(`${source.path} is not a regular file`);
      if (info.size > this.maxBytes) throw new Refused(`file is ${info.size} bytes, over the ${this.maxBytes}-byte limit`);
      await copyFile(source.path, dest);
      return;
    }
    await this.download(source.url, dest);
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
    let data = await readFile(archive);
    if (kind === 'tar.gz') {
      try {
        data = gunzipSync(data, { maxOutputLength: this.maxExtractedBytes });
      } catch (err) {
        throw new ArchiveError(`cannot decompress ${basename(archive)}: ${(err as Error).message}`);
      }
    }
    const entries: ArchiveEntry[] = kind === 'zip' ? readZip(data, this.maxExtractedBytes) : readTar(data);
    checkEntries(entries, this.maxExtractedBytes);
    await writeEntries(sandbox, entries);
    this.options.logger.info({ archive, entries: entries.length }, 'extracted-archive');
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

export function archiveKind(path: string): 'tar' | 'tar.gz' | 'zip' | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'tar.gz';
  if (lower.endsWith('.tar')) return 'tar';
  if (lower.endsWith('.zip')) return 'zip';
  return undefined;
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
