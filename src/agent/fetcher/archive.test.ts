/**
 * The tar and zip readers and the safety checks, against archives made by the system's `tar` and
 * `zip` and by Python's tarfile/zipfile (which can write the hostile entries real tools refuse).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ArchiveEntry } from './archive-entry.ts';
import { checkEntries } from './archive-extract.ts';
import { readTar } from './tar-reader.ts';
import { readZip } from './zip-reader.ts';

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

/** Runs a Python snippet that writes a hostile archive to argv[1]. */
function python(script: string, out: string): void {
  execFileSync('python3', ['-c', script, out]);
}

describe('readTar', () => {
  test('reads GNU tar output: files, modes, dirs, symlinks and long names', async () => {
    const dir = await sampleTree();
    try {
      const data = gunzipSync(execFileSync('tar', ['-czf', '-', '-C', dir, 'app']));
      const entries = byPath(readTar(data));
      assert.equal(entries.get('app/hello.txt')?.data?.toString(), 'hello\n');
      assert.equal(entries.get('app/bin/run')?.mode, 0o755);
      assert.equal(entries.get('app/bin')?.type, 'dir');
      assert.deepEqual([entries.get('app/start')?.type, entries.get('app/start')?.linkTarget], ['symlink', 'bin/run']);
      assert.equal(entries.get(`app/${LONG}`)?.data?.toString(), 'long\n', 'the GNU long name is used');
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
      const entries = readTar(await readFile(out));
      assert.deepEqual(
        entries.map((e) => [e.path, e.data?.toString()]),
        [[LONG, 'pax']],
      );
      assert.throws(() => readTar(Buffer.alloc(1024, 7)), /not a tar archive/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('readZip', () => {
  test('reads zip output: stored and deflated files, modes, dirs, symlinks', async () => {
    const dir = await sampleTree();
    try {
      await writeFile(join(dir, 'app', 'big.txt'), 'x'.repeat(10_000)); // deflated
      execFileSync('zip', ['-qry', join(dir, 'a.zip'), 'app'], { cwd: dir });
      const zip = await readFile(join(dir, 'a.zip'));
      const entries = byPath(readZip(zip, 1 << 20));
      assert.equal(entries.get('app/hello.txt')?.data?.toString(), 'hello\n');
      assert.equal(entries.get('app/big.txt')?.data?.length, 10_000);
      assert.equal(entries.get('app/bin/run')?.mode, 0o755);
      assert.equal(entries.get('app/bin')?.type, 'dir');
      assert.deepEqual([entries.get('app/start')?.type, entries.get('app/start')?.linkTarget], ['symlink', 'bin/run']);
      assert.throws(() => readZip(zip, 100), /larger than 100 bytes/);
      assert.throws(() => readZip(Buffer.from('not a zip at all, really not a zip'), 100), /not a zip archive/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('checkEntries', () => {
  const file = (path: string): ArchiveEntry => ({ path, type: 'file', data: Buffer.from('x') });
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
  });

  test('refuses a chain of links that each look harmless but climb out together', () => {
    // v is checked before u exists, lexically it is a/b/c; through u (= the root) it is the root's parent.
    assert.throws(() => checkEntries([link('v', 'a/b/c/u/..'), link('a/b/c/u', '../../..')], 1000), /"v" points outside/);
    // A file written through such a link, listed before the link itself.
    assert.throws(() => checkEntries([file('w/evil'), link('a/b/c/u', '../../..'), link('w', 'a/b/c/u/..')], 1000), /"w\/evil" is written through a symlink/);
  });
});
