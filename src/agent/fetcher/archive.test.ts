/**
 * The tar and zip readers (node-tar and yauzl underneath) and the safety checks, against archives
 * made by the system's `tar` and `zip` and by Python's tarfile/zipfile (which can write the
 * hostile entries real tools refuse).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArchiveEntry } from './archive-entry.ts';
import { checkEntries, listEntries, type ExtractLimits } from './archive-extract.ts';
import { readTarArchive } from './tar-archive.ts';
import { readZipArchive } from './zip-archive.ts';

const LONG = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}.txt`;

async function sampleTree(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'drover-archive-'));
  await mkdir(join(dir, 'app', 'bin'), { recursive: true });
  await writeFile(join(dir, 'app', 'hello.txt'), 'hello\n');
  await writeFile(join(dir, 'app', 'bin', 'run'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  await symlink('bin/run', join(dir, 'app', 'start'));
  await mkdir(join(dir, 'app', LONG, '..'), { recursive: true });
  await writeFile(join(dir, 'app', LONG), 'long\n');
  return dir;
}

function byPath(entries: ArchiveEntry[]): Map<string, ArchiveEntry> {
  return new Map(entries.map((e) => [e.path.replace(/\/$/, ''), e]));
}

const ROOMY: ExtractLimits = { maxBytes: 1 << 20, maxEntries: 1000 };

/** Every entry with its body read whole (the tests' archives are small). */
async function readTar(path: string, gzip: boolean | 'zip'): Promise<(ArchiveEntry & { data?: string })[]> {
  const out: (ArchiveEntry & { data?: string })[] = [];
  const visit = async (entry: ArchiveEntry, body: AsyncIterable<Uint8Array> | undefined): Promise<void> => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of body ?? []) chunks.push(chunk);
    out.push(body === undefined ? entry : { ...entry, data: Buffer.concat(chunks).toString() });
  };
  await (gzip === 'zip' ? readZipArchive(path, visit) : readTarArchive(path, gzip, visit));
  return out;
}

/** Runs a Python snippet that writes a hostile archive to argv[1]. */
function python(script: string, out: string): void {
  execFileSync('python3', ['-c', script, out]);
}

describe('readTarArchive', () => {
  test('reads GNU tar output: files, modes, dirs, symlinks and long names', async () => {
    const dir = await sampleTree();
    try {
      execFileSync('tar', ['-czf', join(dir, 'a.tgz'), '-C', dir, 'app']);
      const entries = byPath(await readTar(join(dir, 'a.tgz'), true));
      assert.equal((entries.get('app/hello.txt') as { data?: string } | undefined)?.data, 'hello\n');
      assert.equal(entries.get('app/bin/run')?.mode, 0o755);
      assert.equal(entries.get('app/bin')?.type, 'dir');
      assert.deepEqual([entries.get('app/start')?.type, entries.get('app/start')?.linkTarget], ['symlink', 'bin/run']);
      assert.equal((entries.get(`app/${LONG}`) as { data?: string } | undefined)?.data, 'long\n', 'the GNU long name is used');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('reads pax headers (Python default format) and refuses garbage', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-archive-'));
    try {
      const out = join(dir, 'a.tar');
      python(
        `import sys,tarfile,io
t=tarfile.open(sys.argv[1],'w',format=tarfile.PAX_FORMAT)
i=tarfile.TarInfo('${LONG}'); d=b'pax'; i.size=len(d); t.addfile(i,io.BytesIO(d)); t.close()`,
        out,
      );
      const entries = await readTar(out, false);
      assert.deepEqual(
        entries.map((e) => [e.path, e.data]),
        [[LONG, 'pax']],
      );
      await writeFile(join(dir, 'garbage.tar'), Buffer.alloc(1024, 7));
      await assert.rejects(readTar(join(dir, 'garbage.tar'), false), /not a tar archive, or a damaged one \(checksum failure\)/);
      await writeFile(join(dir, 'garbage.tgz'), Buffer.alloc(1024, 7));
      await assert.rejects(readTar(join(dir, 'garbage.tgz'), true), /cannot decompress: incorrect header check/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('readZipArchive', () => {
  test('reads zip output: stored and deflated files, modes, dirs, symlinks', async () => {
    const dir = await sampleTree();
    try {
      await writeFile(join(dir, 'app', 'big.txt'), 'x'.repeat(10_000)); // deflated
      execFileSync('zip', ['-qry', join(dir, 'a.zip'), 'app'], { cwd: dir });
      const zip = join(dir, 'a.zip');
      const entries = byPath(await listEntries(zip, 'zip', ROOMY));
      assert.equal(entries.get('app/hello.txt')?.size, 6);
      assert.equal(entries.get('app/big.txt')?.size, 10_000);
      const read = byPath(await readTar(zip, 'zip')) as Map<string, ArchiveEntry & { data?: string }>;
      assert.equal(read.get('app/hello.txt')?.data, 'hello\n');
      assert.equal(read.get('app/big.txt')?.data, 'x'.repeat(10_000));
      assert.equal(entries.get('app/bin/run')?.mode, 0o755);
      assert.equal(entries.get('app/bin')?.type, 'dir');
      assert.deepEqual([entries.get('app/start')?.type, entries.get('app/start')?.linkTarget], ['symlink', 'bin/run']);
      await assert.rejects(listEntries(zip, 'zip', { maxBytes: 100, maxEntries: 1000 }), /expands to more than 100 bytes/);
      await assert.rejects(listEntries(zip, 'zip', { maxBytes: 1 << 20, maxEntries: 3 }), /more than 3 entries/);
      await writeFile(join(dir, 'not.zip'), 'not a zip at all, really not a zip');
      await assert.rejects(listEntries(join(dir, 'not.zip'), 'zip', ROOMY), /not a zip archive/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('checkEntries', () => {
  const file = (path: string): ArchiveEntry => ({ path, type: 'file', size: 1 });
  const link = (path: string, linkTarget: string): ArchiveEntry => ({ path, type: 'symlink', linkTarget });

  test('accepts ordinary archives, relative links that stay inside included', () => {
    checkEntries([file('a/b.txt'), link('a/c', '../a/b.txt'), link('lib', 'a'), file('lib/d.txt'), { path: 'e', type: 'hardlink', linkTarget: 'a/b.txt' }], 1000);
  });

  test('refuses traversal, absolute paths and links out of the sandbox', () => {
    assert.throws(() => checkEntries([file('../evil')], 1000), /"\.\.\/evil" has a '\.\.' segment/);
    assert.throws(() => checkEntries([file('a/../../evil')], 1000), /'\.\.' segment/);
    assert.throws(() => checkEntries([file('/etc/evil')], 1000), /absolute path/);
    assert.throws(() => checkEntries([link('etc', '/etc')], 1000), /points outside the sandbox \(\/etc\)/);
    assert.throws(() => checkEntries([link('up', '../..')], 1000), /points outside/);
    assert.throws(() => checkEntries([{ path: 'h', type: 'hardlink', linkTarget: '/etc/passwd' }], 1000), /hardlink/);
    assert.throws(() => checkEntries([file('a'), file('b')], 1), /more than 1 bytes/);
    assert.throws(() => checkEntries([file('a'), file('b')], 1000, 1), /more than 1 entries/);
  });

  test('refuses a chain of links that each look harmless but climb out together', () => {
    // v is checked before u exists, lexically it is a/b/c; through u (= the root) it is the root's parent.
    assert.throws(() => checkEntries([link('v', 'a/b/c/u/..'), link('a/b/c/u', '../../..')], 1000), /"v" points outside/);
    // A file written through such a link, listed before the link itself.
    assert.throws(() => checkEntries([file('w/evil'), link('a/b/c/u', '../../..'), link('w', 'a/b/c/u/..')], 1000), /"w\/evil" is written through a symlink/);
  });
});
