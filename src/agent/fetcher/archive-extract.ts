/**
 * Extraction of an archive into a sandbox, refusing anything that could land outside it.
 *
 * The archive is read twice, streaming both times. The first pass lists every entry (bodies
 * skipped; a zip's are not even inflated) and stops as soon as the count or the declared bytes
 * pass their limits, so a bomb costs little. `checkEntries` (pure) then looks at the whole list
 * before a byte is written, so a bad archive is refused as a whole: an absolute path, a `..`
 * segment, a symlink or hardlink whose target resolves outside the sandbox. Targets are resolved
 * through the archive's own symlinks (the final set of them, and also lexically), because a chain
 * of links that each look harmless can still climb out (`a/b/c/u -> ../../..` plus
 * `v -> a/b/c/u/..`).
 *
 * The second pass writes, and checks again against the real filesystem, which may hold files of an
 * earlier URI: the nearest existing ancestor of every target must really be inside the sandbox, and
 * files are opened with O_NOFOLLOW so an existing symlink is never written through. Each entry must
 * be the one the first pass saw, and no body may pass its declared size.
 */
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, realpath, rm, symlink } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { ArchiveEntry, EntryVisitor } from './archive-entry.ts';
import { ArchiveError } from './archive-entry.ts';
import { readTarArchive } from './tar-archive.ts';
import { readZipArchive } from './zip-archive.ts';

export type ArchiveKind = 'tar' | 'tar.gz' | 'zip';

export interface ExtractLimits {
  /** Largest total the files may declare (and write). */
  maxBytes: number;
  /** Most entries of any kind. */
  maxEntries: number;
}

export function archiveKind(path: string): ArchiveKind | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'tar.gz';
  if (lower.endsWith('.tar')) return 'tar';
  if (lower.endsWith('.zip')) return 'zip';
  return undefined;
}

function readArchive(path: string, kind: ArchiveKind, visit: EntryVisitor): Promise<void> {
  return kind === 'zip' ? readZipArchive(path, visit) : readTarArchive(path, kind === 'tar.gz', visit);
}

/** Lists, checks, then writes the archive's entries under `root`; returns how many there were. */
export async function extractArchive(path: string, kind: ArchiveKind, root: string, limits: ExtractLimits): Promise<number> {
  const entries = await listEntries(path, kind, limits);
  checkEntries(entries, limits.maxBytes, limits.maxEntries);
  const writer = await EntryWriter.open(root, limits.maxBytes);
  let index = 0;
  await readArchive(path, kind, async (entry, body) => {
    const listed = entries[index++];
    if (listed === undefined || !sameEntry(listed, entry)) throw new ArchiveError(`the archive changed while it was extracted (at entry ${index})`);
    await writer.write(entry, body);
  });
  if (index !== entries.length) throw new ArchiveError('the archive changed while it was extracted (fewer entries)');
  return entries.length;
}

/** Every entry without its body; stops at the first entry over a limit. */
export async function listEntries(path: string, kind: ArchiveKind, limits: ExtractLimits): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  let total = 0;
  await readArchive(path, kind, async (entry) => {
    entries.push(entry);
    total += entry.size ?? 0;
    if (entries.length > limits.maxEntries) throw new ArchiveError(`archive has more than ${limits.maxEntries} entries`);
    if (total > limits.maxBytes) throw new ArchiveError(`archive expands to more than ${limits.maxBytes} bytes`);
  });
  return entries;
}

function sameEntry(a: ArchiveEntry, b: ArchiveEntry): boolean {
  return a.path === b.path && a.type === b.type && a.size === b.size && a.linkTarget === b.linkTarget;
}

/** Symlink hops followed while resolving one path, as the kernel's MAXSYMLINKS. */
const MAX_HOPS = 40;

/** The path's segments, or an error naming the entry; '.' and empty segments dropped. */
export function safeSegments(path: string): string[] {
  if (path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path)) throw new ArchiveError(`entry ${JSON.stringify(path)} has an absolute path`);
  if (path.includes('\0')) throw new ArchiveError(`entry ${JSON.stringify(path)} has a NUL byte in its name`);
  // Backslashes count as separators too: an archive made on Windows means them as such.
  const segments = path.split(/[/\\]/).filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw new ArchiveError(`entry ${JSON.stringify(path)} has a '..' segment`);
  return segments;
}

export function checkEntries(entries: readonly ArchiveEntry[], maxBytes: number, maxEntries = Infinity): void {
  if (entries.length > maxEntries) throw new ArchiveError(`archive has more than ${maxEntries} entries`);
  let total = 0;
  const links = new Map<string, { dir: string[]; target: string }>();
  for (const entry of entries) {
    const segments = safeSegments(entry.path);
    total += entry.size ?? 0;
    if (entry.type === 'symlink') {
      if (entry.linkTarget === undefined || entry.linkTarget === '') throw new ArchiveError(`symlink ${JSON.stringify(entry.path)} has no target`);
      if (entry.linkTarget.startsWith('/')) throw new ArchiveError(`symlink ${JSON.stringify(entry.path)} points outside the sandbox (${entry.linkTarget})`);
      if (segments.length === 0) throw new ArchiveError(`symlink ${JSON.stringify(entry.path)} would replace the sandbox`);
      links.set(segments.join('/'), { dir: segments.slice(0, -1), target: entry.linkTarget });
    }
  }
  if (total > maxBytes) throw new ArchiveError(`archive expands to more than ${maxBytes} bytes`);
  for (const entry of entries) {
    const segments = safeSegments(entry.path);
    // The directory it is written into, through the archive's symlinks.
    if (resolve(segments.slice(0, -1), links) === undefined) {
      throw new ArchiveError(`entry ${JSON.stringify(entry.path)} is written through a symlink that leads outside the sandbox`);
    }
    if (entry.type === 'symlink') {
      const target = [...segments.slice(0, -1), ...entry.linkTarget!.split('/')];
      if (lexical(target) === undefined || resolve(target, links) === undefined) {
        throw new ArchiveError(`symlink ${JSON.stringify(entry.path)} points outside the sandbox (${entry.linkTarget})`);
      }
    }
    if (entry.type === 'hardlink') {
      let target: string[] | undefined;
      try {
        target = safeSegments(entry.linkTarget ?? '');
      } catch {
        target = undefined;
      }
      if (target === undefined || target.length === 0 || resolve(target, links) === undefined) {
        throw new ArchiveError(`hardlink ${JSON.stringify(entry.path)} points outside the sandbox (${entry.linkTarget})`);
      }
    }
  }
}

/** `..` and `.` applied without looking at links; undefined if it climbs above the root. */
function lexical(segments: readonly string[]): string[] | undefined {
  const out: string[] = [];
  for (const s of segments) {
    if (s === '' || s === '.') continue;
    if (s === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(s);
  }
  return out;
}

/** Resolves a sandbox-relative path through the archive's symlinks; undefined if it escapes. */
function resolve(segments: readonly string[], links: ReadonlyMap<string, { dir: string[]; target: string }>): string[] | undefined {
  let pending = [...segments];
  let out: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const s = pending.shift()!;
    if (s === '' || s === '.') continue;
    if (s === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      continue;
    }
    out.push(s);
    const link = links.get(out.join('/'));
    if (link === undefined) continue;
    // A loop is no escape, but it is no archive we want either.
    if (++hops > MAX_HOPS) return undefined;
    if (link.target.startsWith('/')) return undefined;
    pending = [...link.target.split('/'), ...pending];
    out = [...link.dir];
  }
  return out;
}

/** Writes checked entries under a root that exists. Permission bits are kept, setuid and the like dropped. */
class EntryWriter {
  private written = 0;

  private constructor(
    private readonly realRoot: string,
    private readonly maxBytes: number,
  ) {}

  static async open(root: string, maxBytes: number): Promise<EntryWriter> {
    return new EntryWriter(await realpath(root), maxBytes);
  }

  async write(entry: ArchiveEntry, body: AsyncIterable<Uint8Array> | undefined): Promise<void> {
    const realRoot = this.realRoot;
    const segments = safeSegments(entry.path);
    if (segments.length === 0) return; // "./" itself
    const path = join(realRoot, ...segments);
    if (entry.type === 'dir') {
      await ensureInside(realRoot, path);
      await mkdir(path, { recursive: true, mode: 0o755 });
      return;
    }
    await ensureInside(realRoot, dirname(path));
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await ensureInside(realRoot, dirname(path));
    await removeNonDirectory(path);
    if (entry.type === 'symlink') {
      await symlink(entry.linkTarget!, path);
    } else if (entry.type === 'hardlink') {
      const source = join(realRoot, ...safeSegments(entry.linkTarget!));
      await ensureInside(realRoot, source);
      const resolved = await realpath(source);
      if (!inside(realRoot, resolved)) throw new ArchiveError(`hardlink ${JSON.stringify(entry.path)} points outside the sandbox`);
      // A copy rather than link(2): the sandbox then holds no inode shared with anything else.
      await copyFile(resolved, path);
    } else {
      const mode = (entry.mode ?? 0o644) & 0o777;
      const file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
      try {
        let bytes = 0;
        for await (const chunk of body ?? []) {
          bytes += chunk.length;
          this.written += chunk.length;
          // The readers check sizes too; this holds even if one of them did not.
          if (bytes > (entry.size ?? 0)) throw new ArchiveError(`entry ${JSON.stringify(entry.path)} is longer than its declared ${entry.size ?? 0} bytes`);
          if (this.written > this.maxBytes) throw new ArchiveError(`archive expands to more than ${this.maxBytes} bytes`);
          await file.write(chunk);
        }
        await file.chmod(mode);
      } finally {
        await file.close();
      }
    }
  }
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root + sep);
}

/** The nearest existing ancestor of `path` (itself included) must really be under `root`. */
async function ensureInside(root: string, path: string): Promise<void> {
  let current = path;
  for (;;) {
    try {
      const real = await realpath(current);
      if (!inside(root, real)) throw new ArchiveError(`${current.slice(root.length + 1)} leads outside the sandbox`);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || current === root) throw err;
      current = dirname(current);
    }
  }
}

async function removeNonDirectory(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (stat === undefined) return;
  if (stat.isDirectory()) throw new ArchiveError(`${path} is a directory in the sandbox and a file in the archive`);
  await rm(path, { force: true });
}
