/**
 * One layer blob → one extracted directory in overlayfs form, verified on the way.
 *
 * The registry's bytes are hashed as they stream (the descriptor's digest, and the size it
 * declares as an upper bound), inflated by a zlib stream (on libuv's thread pool, not the event
 * loop), hashed again (the config's diff_id) and unpacked by node-tar into a directory the caller
 * made for this attempt. Only when both digests match does the caller rename that directory into
 * the store: a mismatch, a cut connection or a crash leaves a temp dir nobody uses.
 *
 * Whiteouts become what overlayfs reads (as Mesos' overlay backend converts them): `.wh.NAME` a
 * 0/0 character device NAME, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory.
 * Node has neither mknod nor setxattr, so `mknod` (coreutils) and `setfattr` (attr) do it.
 *
 * zstd: Node 20's zlib has no zstd (it arrived in Node 22.15/23.8), so zstd layers are refused
 * before a byte is fetched, with DROVER_ERR_IMAGE_UNSUPPORTED.
 */
import { execFile } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { lchown, lstat, mkdir, symlink, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { Unpack, type ReadEntry } from 'tar';
import { DroverError } from '../errors/errors.ts';
import type { LayerDescriptor } from './manifest.ts';

const run = promisify(execFile);
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** Counts and hashes what passes; refuses more than `limit` bytes. */
class HashTap extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return callback(new Error(`more than the ${this.limit} bytes the manifest declares`));
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

export interface ExtractedLayer {
  /** Uncompressed bytes (the diff's size), for the store's size accounting. */
  bytes: number;
  whiteouts: number;
}

export interface ExtractOptions {
  image: string;
  layer: LayerDescriptor;
  /** `config.rootfs.diff_ids[i]`: the digest of the uncompressed tar. */
  diffId: string;
  /** An empty directory for this attempt; the layer's files go under it. */
  target: string;
  /** node-tar warnings (device nodes skipped, and the like), for the log. */
  onWarning?: (message: string) => void;
}

export async function extractLayer(blob: Readable, options: ExtractOptions): Promise<ExtractedLayer> {
  const { layer, image } = options;
  if (layer.compression === 'zstd') {
    blob.destroy();
    throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: layer ${layer.digest} is zstd-compressed, which this agent cannot decompress (Node 20 has no zstd)`);
  }
  const compressed = new HashTap(layer.size);
  // A gzip bomb is bounded by the disk, as for any image; the diff_id check still applies at the end.
  const uncompressed = new HashTap(Number.MAX_SAFE_INTEGER);
  const whiteouts: { dir: string; name: string }[] = [];
  const absoluteLinks: { path: string; target: string; uid: number; gid: number }[] = [];
  let unsafe: string | undefined;
  const unpack = new Unpack({
    cwd: options.target,
    // Ownership as in the image (the agent runs as root); modes as in the archive, not the umask.
    preserveOwner: true,
    processUmask: 0,
    chmod: true,
    filter: (path: string, entry: ReadEntry | Stats) => {
      const clean = path.replace(/^(\.\/|\/)+/, '');
      // node-tar makes absolute symlink targets relative; in an image they are relative to the
      // container's root and must stay as written (`/etc/localtime -> /usr/share/zoneinfo/UTC`).
      if ('type' in entry && entry.type === 'SymbolicLink' && entry.linkpath?.startsWith('/') === true) {
        absoluteLinks.push({ path: clean.replace(/\/$/, ''), target: entry.linkpath, uid: entry.uid ?? 0, gid: entry.gid ?? 0 });
      }
      const slash = clean.lastIndexOf('/', clean.endsWith('/') ? clean.length - 2 : clean.length);
      const base = clean.slice(slash + 1).replace(/\/$/, '');
      if (!base.startsWith(WHITEOUT)) return true;
      whiteouts.push({ dir: slash === -1 ? '' : clean.slice(0, slash), name: base });
      return false;
    },
    onwarn: (code: string, message: string | Error) => {
      // An entry that would land outside the layer (through a symlink, with '..') is an error
      // for the whole layer: such an image is broken or hostile, and skipping would hide it.
      if (code === 'TAR_ENTRY_ERROR' && unsafe === undefined) unsafe = String(message).slice(0, 200);
      options.onWarning?.(`${code}: ${String(message)}`);
    },
  });
  const unpacked = new Promise<void>((resolve, reject) => {
    unpack.on('end', resolve);
    unpack.on('error', reject);
  });
  // Awaited below; an abort after a failure must not surface as an unhandled rejection.
  unpacked.catch(() => undefined);
  // Bigger output chunks than zlib's 16 KiB: fewer hops through the hash and the tar parser.
  const decompress = layer.compression === 'gzip' ? createGunzip({ chunkSize: 256 * 1024 }) : undefined;
  blob.on('error', (e) => compressed.destroy(e));
  compressed.on('error', (e) => uncompressed.destroy(e));
  blob.pipe(compressed);
  const inflated: Readable = decompress === undefined ? compressed : compressed.pipe(decompress);
  inflated.on('error', (e) => uncompressed.destroy(e));
  inflated.pipe(uncompressed);
  try {
    let written = 0;
    for await (const chunk of uncompressed as AsyncIterable<Buffer>) {
      written += chunk.length;
      if (!unpack.write(chunk)) await new Promise((resolve) => unpack.once('drain', resolve));
    }
    // Some producers (umoci's insert, seen here) leave a few bytes after the end-of-archive
    // blocks; GNU tar ignores them, node-tar calls the archive truncated. The bytes are hashed
    // as sent above; the parser gets them padded to a whole 512-byte block.
    if (written % 512 !== 0) unpack.write(Buffer.alloc(512 - (written % 512)));
    unpack.end();
    await unpacked;
  } catch (error) {
    unpack.abort(error as Error);
    // Inflating or unpacking failed. If the connection is still whole, read the rest of the blob
    // through the hash: bytes that are not the named ones are a digest mismatch, not a bad archive.
    if (!compressed.destroyed && !blob.destroyed) {
      compressed.unpipe();
      compressed.resume();
      await finished(compressed).catch(() => undefined);
    }
    blob.destroy();
    if (compressed.readableEnded && `sha256:${compressed.hash.digest('hex')}` !== layer.digest) {
      throw new DroverError('IMAGE_DIGEST_MISMATCH', `pulling ${image}: layer ${layer.digest} arrived as other bytes (${compressed.bytes} of ${layer.size}): refused`);
    }
    throw new DroverError('IMAGE_PULL_FAILED', `pulling ${image}: layer ${layer.digest}: ${(error as Error).message}`, { cause: error });
  }
  const got = `sha256:${compressed.hash.digest('hex')}`;
  if (got !== layer.digest || compressed.bytes !== layer.size) {
    throw new DroverError('IMAGE_DIGEST_MISMATCH', `pulling ${image}: layer ${layer.digest} (${layer.size} bytes) arrived as ${got} (${compressed.bytes} bytes): refused`);
  }
  const diff = `sha256:${uncompressed.hash.digest('hex')}`;
  if (diff !== options.diffId) {
    throw new DroverError('IMAGE_DIGEST_MISMATCH', `pulling ${image}: layer ${layer.digest} unpacks to ${diff}, but the config says ${options.diffId}: refused`);
  }
  if (unsafe !== undefined) throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: layer ${layer.digest} has an unsafe entry (${unsafe}): refused`);
  for (const link of absoluteLinks) await restoreAbsoluteLink(options.target, link, image);
  for (const { dir, name } of whiteouts) await applyWhiteout(options.target, dir, name, image);
  return { bytes: uncompressed.bytes, whiteouts: whiteouts.length };
}

/** `dir` made (or found) under `root` without following a symlink out of it. */
async function safeDir(root: string, dir: string, image: string): Promise<string> {
  let path = root;
  for (const part of dir.split('/').filter((p) => p !== '' && p !== '.')) {
    if (part === '..') throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: whiteout path with '..'`);
    path = join(path, part);
    const stat = await lstat(path).catch(() => undefined);
    if (stat === undefined) await mkdir(path, { mode: 0o755 });
    else if (!stat.isDirectory()) throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: whiteout under a non-directory (${dir.slice(0, 200)})`);
  }
  return path;
}

async function restoreAbsoluteLink(root: string, link: { path: string; target: string; uid: number; gid: number }, image: string): Promise<void> {
  const slash = link.path.lastIndexOf('/');
  const parent = await safeDir(root, slash === -1 ? '' : link.path.slice(0, slash), image);
  const path = join(parent, link.path.slice(slash + 1));
  // Only a symlink node-tar made from this entry is replaced (a later entry may have replaced it).
  if (!(await lstat(path).catch(() => undefined))?.isSymbolicLink()) return;
  await unlink(path);
  await symlink(link.target, path);
  await lchown(path, link.uid, link.gid);
}

async function applyWhiteout(root: string, dir: string, name: string, image: string): Promise<void> {
  const parent = await safeDir(root, dir, image);
  if (name === OPAQUE) {
    await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', '--', parent]);
    return;
  }
  const hidden = name.slice(WHITEOUT.length);
  if (hidden === '' || hidden === '.' || hidden === '..' || hidden.includes('/')) return;
  const path = join(parent, hidden);
  // Whiteouts hide lower layers only: a same-named entry of this very layer stays.
  if ((await lstat(path).catch(() => undefined)) !== undefined) return;
  await run('mknod', ['--', path, 'c', '0', '0']);
}
