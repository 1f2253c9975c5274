/**
 * The Mesos `/files` endpoints over the agent's work dir (sandboxes and their stdout/stderr):
 *   browse?path=                  [{path, nlink, size, mtime, mode, uid, gid}], sorted by path
 *   read?path=&offset=&length=    {"offset":N,"data":"…"}; offset -1 (the default) answers the
 *                                 file's size and no data, so a pager can start at the end;
 *                                 length -1 (the default) reads to EOF, capped at 16 pages
 *   download?path=                the raw bytes
 *   follow?path=&offset=&timeout= a chunked stream of what is appended to the file (file-follow.ts);
 *                                 offset -1 (the default) starts at the current end, 0 at the start;
 *                                 timeout (seconds, may be fractional) ends it, else the client does
 * 400 for bad parameters (and for reading a directory), 404 for a path that does not exist, 403
 * for one outside the work dir. Paths are absolute (the `directory` of a task in /state) or
 * relative to the work dir.
 *
 * Confinement: the path as written must stay inside (so `..` cannot climb out), and what is
 * opened must be inside, checked on the opened descriptor (confined-open.ts) — a task can swap a
 * folder of its sandbox for a symlink between any check and any open. The agent's `meta/`
 * (checkpoints, which hold env values) is never listed nor served.
 * The path is percent-decoded exactly once (by the query parser) and never again: `%2e%2e` that
 * survives is a literal name — sandbox names really contain `%2E` (work-dir.ts `pathSegment`) — so
 * decoding it a second time would both break those names and reopen the traversal.
 */
import { lstat, readFile, readdir, realpath, stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { DroverError } from '../../errors/errors.ts';
import { isInside as inside, openConfined, placeOf, type Confinement } from './confined-open.ts';
import { FileFollower } from './file-follow.ts';

/** Mesos caps one read at 16 pages. */
export const MAX_READ_BYTES = 16 * 4096;

export interface FileInfo {
  path: string;
  nlink: number;
  size: number;
  mtime: number;
  mode: string;
  uid: string;
  gid: string;
}

export class SandboxFiles {
  private realRoot: Promise<string> | undefined;

  constructor(
    private readonly root: string,
    /** Absolute paths under the root never served: the secret files of live tasks. */
    private readonly hiddenFiles: () => readonly string[] = () => [],
  ) {}

  async browse(requested: string | undefined): Promise<FileInfo[]> {
    const { handle, stats, procPath, realPath, confinement } = await this.open(requested);
    try {
      const shown = (requested ?? '').replace(/\/+$/, '') || '/';
      if (!stats.isDirectory()) return [await fileInfo(shown, stats)];
      const entries: FileInfo[] = [];
      // Listed through the opened folder itself, never through its path again.
      for (const name of await readdir(procPath)) {
        if (placeOf(confinement, join(realPath, name)) === 'hidden') continue;
        try {
          entries.push(await fileInfo(shown === '/' ? `/${name}` : `${shown}/${name}`, await this.entryStats(join(procPath, name), confinement)));
        } catch {
          // Gone between readdir and stat, or a dangling symlink: not listable, as in Mesos.
        }
      }
      return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    } finally {
      await handle.close();
    }
  }

  async read(requested: string | undefined, offsetParam: string | undefined, lengthParam: string | undefined): Promise<{ offset: number; data: string }> {
    const offset = integerParam('offset', offsetParam);
    const length = integerParam('length', lengthParam);
    const { handle, stats } = await this.open(requested);
    try {
      if (stats.isDirectory()) throw new DroverError('MALFORMED', 'Cannot read a directory');
      // The size now, not from the earlier stat: task logs grow while we read.
      const size = (await handle.stat()).size;
      const start = offset === -1 ? size : offset;
      if (start >= size) return { offset: size, data: '' };
      const wanted = Math.min(length === -1 ? size - start : length, MAX_READ_BYTES);
      const buffer = Buffer.alloc(wanted);
      const { bytesRead } = await handle.read(buffer, 0, wanted, start);
      // JSON carries text: bytes that are not UTF-8 arrive as U+FFFD (Mesos sends them raw,
      // which is not valid JSON either). Offsets stay byte offsets.
      return { offset: start, data: buffer.subarray(0, bytesRead).toString('utf8') };
    } finally {
      await handle.close();
    }
  }

  /**
   * Bytes of a file for the v1 READ_FILE call: from `offset`, at most `length` (to the end when
   * absent), capped at MAX_READ_BYTES; `size` is the file's whole size (Mesos' Response.ReadFile).
   */
  async readBytes(requested: string, offset: number, length: number | undefined): Promise<{ size: number; data: Buffer }> {
    const { handle, stats } = await this.open(requested);
    try {
      if (stats.isDirectory()) throw new DroverError('MALFORMED', 'Cannot read a directory');
      const size = (await handle.stat()).size;
      if (offset >= size) return { size, data: Buffer.alloc(0) };
      const wanted = Math.min(length ?? size - offset, size - offset, MAX_READ_BYTES);
      const buffer = Buffer.alloc(wanted);
      const { bytesRead } = await handle.read(buffer, 0, wanted, offset);
      return { size, data: buffer.subarray(0, bytesRead) };
    } finally {
      await handle.close();
    }
  }

  async download(requested: string | undefined): Promise<{ stream: NodeJS.ReadableStream; name: string; size: number }> {
    const { handle, stats, realPath } = await this.open(requested);
    if (stats.isDirectory() || !stats.isFile()) {
      await handle.close();
      throw new DroverError('MALFORMED', 'Can only download a regular file');
    }
    // The stream reads the opened descriptor (and closes it when done).
    return { stream: handle.createReadStream(), name: basename(realPath), size: stats.size };
  }

  /** A started follower of one file; the caller sends its stream and stops it when the client goes. */
  async follow(requested: string | undefined, offsetParam: string | undefined, timeoutParam: string | undefined): Promise<FileFollower> {
    const offset = integerParam('offset', offsetParam);
    let timeoutMs: number | undefined;
    if (timeoutParam !== undefined && timeoutParam !== '') {
      const seconds = Number(timeoutParam);
      if (!/^\d+(\.\d+)?$/.test(timeoutParam) || !(seconds > 0)) {
        throw new DroverError('MALFORMED', `Failed to parse timeout: '${timeoutParam}' is not a positive number of seconds`);
      }
      timeoutMs = seconds * 1000;
    }
    const { handle, stats, realPath: path } = await this.open(requested);
    await handle.close();
    if (!stats.isFile()) throw new DroverError('MALFORMED', 'Can only follow a regular file');
    // Follows the resolved real path: a symlink swapped afterwards cannot redirect the stream out.
    const follower = new FileFollower(path, { offset: offset === -1 ? undefined : offset, timeoutMs });
    await follower.start();
    return follower;
  }

  /**
   * What a listing shows for an entry: what it points to (as Mesos does), unless it is a symlink
   * leading out of the work dir — then the link itself, so a listing reveals nothing outside.
   */
  private async entryStats(path: string, confinement: Confinement): Promise<Stats> {
    const own = await lstat(path);
    if (!own.isSymbolicLink()) return own;
    const target = await realpath(path);
    return placeOf(confinement, target) === 'allowed' ? stat(target) : own;
  }

  /** The work dir's real path, and the parts of it never served. */
  private async confinement(): Promise<Confinement> {
    const root = await this.rootRealPath();
    // meta/: checkpoints; and the secret files in live tasks' sandboxes (secret-files.ts).
    return { root, hidden: [join(root, 'meta'), ...this.hiddenFiles().map((p) => join(root, relative(this.root, p)))] };
  }

  /**
   * Opens a requested path read-only, confined (confined-open.ts): 400 for a bad path, 404 when
   * it does not exist, 403 when what would be opened is outside the work dir or hidden.
   */
  private async open(requested: string | undefined): Promise<{ handle: FileHandle; stats: Stats; realPath: string; procPath: string; confinement: Confinement }> {
    const { path } = await this.resolve(requested);
    const confinement = await this.confinement();
    let opened;
    try {
      opened = await openConfined(path, confinement);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new DroverError('NOT_FOUND', `'${requested}' does not exist`);
      if (code === 'ELOOP') throw forbidden(requested!);
      throw e;
    }
    if ('refused' in opened) throw forbidden(requested!);
    try {
      return { ...opened, stats: await opened.handle.stat(), confinement };
    } catch (e) {
      await opened.handle.close();
      throw e;
    }
  }

  private rootRealPath(): Promise<string> {
    this.realRoot ??= realpath(this.root).catch(() => this.root);
    return this.realRoot;
  }

  /** The real path of a requested path inside the work dir, or a 400/403/404 DroverError. */
  async resolve(requested: string | undefined): Promise<{ path: string; stats: Stats }> {
    if (requested === undefined || requested === '') throw new DroverError('MALFORMED', "Expecting 'path=value' in query");
    if (requested.includes('\0')) throw new DroverError('MALFORMED', 'path contains a NUL byte');
    const candidate = isAbsolute(requested) ? resolve(requested) : resolve(this.root, requested);
    if (!inside(this.root, candidate)) throw forbidden(requested);
    let real: string;
    try {
      real = await realpath(candidate);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new DroverError('NOT_FOUND', `'${requested}' does not exist`);
      }
      throw e;
    }
    if (placeOf(await this.confinement(), real) !== 'allowed') throw forbidden(requested);
    return { path: real, stats: await stat(real) };
  }
}

/** 403, not 404: the caller learns the path is refused, not that it is absent. */
function forbidden(requested: string): DroverError {
  return new DroverError('FORBIDDEN', `'${requested}' is outside the agent's work dir`);
}

function integerParam(name: string, value: string | undefined): number {
  if (value === undefined || value === '') return -1;
  if (!/^-?\d+$/.test(value)) throw new DroverError('MALFORMED', `Failed to parse ${name}: '${value}' is not an integer`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < -1) throw new DroverError('MALFORMED', `Failed to parse ${name}: must be -1 or a non-negative integer, got ${value}`);
  return n;
}

async function fileInfo(path: string, stats: Stats): Promise<FileInfo> {
  const names = await accountNames();
  return {
    path,
    nlink: stats.nlink,
    size: stats.size,
    mtime: Math.floor(stats.mtimeMs / 1000),
    mode: modeString(stats.mode),
    uid: names.users.get(stats.uid) ?? String(stats.uid),
    gid: names.groups.get(stats.gid) ?? String(stats.gid),
  };
}

/** `ls -l` style: "drwxr-xr-x", as Mesos reports it. */
export function modeString(mode: number): string {
  const type = (mode & 0o170000) === 0o040000 ? 'd' : (mode & 0o170000) === 0o120000 ? 'l' : '-';
  const bits = 'rwxrwxrwx';
  let out = type;
  for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}

let accounts: Promise<{ users: Map<number, string>; groups: Map<number, string> }> | undefined;

/** Mesos shows owner names; read the local account files once (numbers when unavailable). */
function accountNames(): Promise<{ users: Map<number, string>; groups: Map<number, string> }> {
  const parse = async (file: string): Promise<Map<number, string>> => {
    const map = new Map<number, string>();
    try {
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id && /^\d+$/.test(id)) map.set(Number(id), name);
      }
    } catch {
      // No account file (containers, non-Linux): numbers it is.
    }
    return map;
  };
  accounts ??= Promise.all([parse('/etc/passwd'), parse('/etc/group')]).then(([users, groups]) => ({ users, groups }));
  return accounts;
}
