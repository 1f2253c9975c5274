/**
 * bin/drover, the launcher users run (package.json "bin"): it must set glibc's malloc thresholds
 * before node starts (docs/architecture/016-memory.md), leave an operator's own values alone,
 * step aside for DROVER_MALLOC=default, and work through the symlink npm puts on PATH.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DROVER_LAUNCHER, launcherEnv, startDrover } from '../devkit/process.ts';
// @ts-expect-error: plain JavaScript of the launcher's (bin/ has no type declarations).
import { bundleStaleness, describeFile } from '../bin/bundle.js';

const staleness = bundleStaleness as (root: string) => string | undefined;
const describe_ = describeFile as (path: string) => [number, number, string];

const version = (JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

/** The MALLOC_* variables of a running process, as the kernel holds its environment. */
async function mallocEnv(pid: number): Promise<Record<string, string>> {
  const raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter((kv) => kv.startsWith('MALLOC_'))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

async function masterMalloc(env: Record<string, string>): Promise<Record<string, string>> {
  const master = await startDrover(['master', '--port', '0', '--store', 'memory:'], { env });
  try {
    // The pid spawned is node's own: the launcher execs it.
    const cmdline = await readFile(`/proc/${master.child.pid}/cmdline`, 'utf8');
    assert.match(cmdline, /drover\.cjs\0master\0/);
    return await mallocEnv(master.child.pid!);
  } finally {
    await master.stop();
  }
}

describe('bin/drover launcher', () => {
  test('a master started through it runs with fixed malloc thresholds', async () => {
    assert.deepEqual(await masterMalloc({}), { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' });
  });

  test("an operator's own values win, and DROVER_MALLOC=default leaves glibc's behaviour", async () => {
    assert.deepEqual(await masterMalloc({ MALLOC_MMAP_THRESHOLD_: '65536' }), { MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '131072' });
    assert.deepEqual(await masterMalloc({ DROVER_MALLOC: 'default' }), {});
  });

  test('through a symlink elsewhere (as npm links it onto PATH) it finds its files and passes arguments through', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-launcher-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await symlink(DROVER_LAUNCHER, join(dir, 'drover'));
    const env = { ...process.env, ...launcherEnv(), PATH: `${dir}:${process.env['PATH']}` };
    const ok = spawnSync('drover', ['--version'], { encoding: 'utf8', env, cwd: dir });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), version);
    // Arguments with spaces and quotes arrive intact; the exit code is the CLI's own.
    const bad = spawnSync('drover', ['dev', '--port', "70 000 'x'"], { encoding: 'utf8', env, cwd: dir });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--port must be an integer from 0 to 65535/);
  });

  test('DROVER_NODE_ARGS reach node', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-launcher-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const preload = join(dir, 'preload.cjs');
    await writeFile(preload, "process.stderr.write('preloaded by a node flag\\n');\n");
    const r = spawnSync(DROVER_LAUNCHER, ['--version'], { encoding: 'utf8', env: { ...process.env, ...launcherEnv(['--max-old-space-size=512', '--require', preload]) } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
    assert.match(r.stderr, /preloaded by a node flag/);
  });
});

describe('the bundle in dist/ (026-bundle.md)', () => {
  test('it counts as the sources only while every bundled file is as the build saw it', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'drover-bundle-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'src'));
    await mkdir(join(root, 'dist'));
    assert.match(staleness(root)!, /no bundle in dist/);
    await writeFile(join(root, 'src', 'a.ts'), 'export const a = 1;\n');
    await writeFile(join(root, 'src', 'b.ts'), 'export const b = 2;\n');
    const stamp = async (): Promise<void> =>
      writeFile(join(root, 'dist', 'stamp.json'), JSON.stringify({ files: { 'src/a.ts': describe_(join(root, 'src', 'a.ts')), 'src/b.ts': describe_(join(root, 'src', 'b.ts')) } }));
    await stamp();
    assert.equal(staleness(root), undefined);
    // A checkout or npm pack rewrites mtimes: the same contents are still the bundle's.
    await utimes(join(root, 'src', 'a.ts'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    assert.equal(staleness(root), undefined);
    // An edit of the same size, with an older mtime than the build saw: the hash tells.
    await writeFile(join(root, 'src', 'a.ts'), 'export const a = 7;\n');
    await utimes(join(root, 'src', 'a.ts'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    assert.equal(staleness(root), 'src/a.ts changed since the bundle was built');
    await stamp();
    await writeFile(join(root, 'src', 'b.ts'), 'export const b = 2; // longer\n');
    assert.equal(staleness(root), 'src/b.ts changed since the bundle was built');
    await stamp();
    await rm(join(root, 'src', 'a.ts'));
    assert.equal(staleness(root), 'src/a.ts is gone since the bundle was built');
    await writeFile(join(root, 'dist', 'stamp.json'), '[1]');
    assert.equal(staleness(root), 'dist/stamp.json is not a stamp');
  });

  test('drover version says what ran: the bundle when it is fresh, else the sources and why; DROVER_BUNDLE=off takes the sources', () => {
    const checkout = join(import.meta.dirname, '..');
    const run = (env: Record<string, string>): { version: string; code: string; why?: string } => {
      const r = spawnSync(DROVER_LAUNCHER, ['version', '--json'], { encoding: 'utf8', env: { ...process.env, ...launcherEnv(), ...env } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { version: string; code: string; why?: string };
    };
    const stale = staleness(checkout);
    assert.deepEqual(run({}), { version, ...(stale === undefined ? { code: 'bundle' } : { code: 'sources', why: stale }) });
    assert.deepEqual(run({ DROVER_BUNDLE: 'off' }), { version, code: 'sources', why: 'DROVER_BUNDLE=off' });
  });
});
