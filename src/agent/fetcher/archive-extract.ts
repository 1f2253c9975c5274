/**
 * Extraction of archive entries into a sandbox, refusing anything that could land outside it.
 *
 * `checkEntries` (pure) looks at the whole archive before a byte is written, so a bad archive is
 * refused as a whole: an absolute path, a `..` segment, a symlink or hardlink whose target
 * resolves outside the sandbox. Targets are resolved through the archive's own symlinks (the
 * final set of them, and also lexically), because a chain of links that each look harmless can
 * still climb out (`a/b/c/u -> ../../..` plus `v -> a/b/c/u/..`).
 *
 * `writeEntries` then checks again against the real filesystem, which may hold files of an earlier
 * URI: the nearest existing ancestor of every target must really be inside the sandbox, and files
 * are opened with O_NOFOLLOW so an existing symlink is never written through.
 */
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, realpath, rm, symlink } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { ArchiveEntry } from './archive-entry.ts';
import { ArchiveError } from './archive-entry.ts';

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

export function checkEntries(entries: readonly ArchiveEntry[], maxBytes: number): void {
  let total = 0;
  const links = new Map<string, { dir: string[]; target: string }>();
  for (const entry of entries) {
    const segments = safeSegments(entry.path);
    total += entry.data?.length ?? 0;
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

/** Writes checked entries under `root` (which exists). Permission bits are kept, setuid and the like dropped. */
export async function writeEntries(root: string, entries: readonly ArchiveEntry[]): Promise<void> {
  const realRoot = await realpath(root);
  for (const entry of entries) {
    const segments = safeSegments(entry.path);
    if (segments.length === 0) continue; // "./" itself
    const path = join(realRoot, ...segments);
    if (entry.type === 'dir') {
      await ensureInside(realRoot, path);
      await mkdir(path, { recursive: true, mode: 0o755 });
      continue;
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
        await file.writeFile(entry.data ?? Buffer.alloc(0));
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
