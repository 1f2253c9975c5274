/**
 * Power loss, simulated for real: the SQLite store lives on an ext4 file system in a loop-mounted
 * image file. A child process writes and prints each key only after its put resolved; it is
 * killed with SIGKILL, and at once the raw image file is copied. The loop device writes into the
 * image only what the file system sent down to its "disk" — data that was fsynced, or written
 * back already — so dirty pages still in the page cache are absent from the copy, exactly what a
 * power cut loses. The copy is then mounted (ext4 replays its journal, as after a real cut) and
 * the store opened from it.
 *
 * The file system is mounted with commit=600 so its journal does not flush on its own timer
 * during the test, and everything happens well within the kernel's 30 s dirty-page expiry. The
 * control run with synchronous=NORMAL must lose acknowledged writes (or be refused): that shows
 * the method really drops unsynced data, so the FULL run passing means something.
 *
 * Needs root and loop devices (losetup, mkfs.ext4, mount); skipped otherwise, saying why.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { isDroverError } from '../src/errors/errors.ts';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const ACKS_BEFORE_CUT = 3000;

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.error?.message ?? result.stderr}`);
  return result.stdout.trim();
}

const dir = mkdtempSync(join(tmpdir(), 'drover-power-loss-'));

/** Why this machine cannot run the test, found by trying: root in a container may lack loop devices. */
function whyNot(): string | undefined {
  if (process.platform !== 'linux') return 'loop devices are Linux-only';
  if (process.getuid?.() !== 0) return 'needs root for losetup and mount';
  for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount', 'truncate']) {
    if (spawnSync(tool, ['--version']).error !== undefined) return `${tool} is not installed`;
  }
  const probe = join(dir, 'probe.img');
  const mountPoint = join(dir, 'probe');
  let loop: string | undefined;
  try {
    run('truncate', ['-s', '16M', probe]);
    run('mkfs.ext4', ['-q', '-F', probe]);
    loop = run('losetup', ['--find', '--show', probe]);
    mkdirSync(mountPoint);
    run('mount', ['-t', 'ext4', loop, mountPoint]);
    run('umount', [mountPoint]);
    return undefined;
  } catch (error) {
    return `cannot mount a loop device here: ${(error as Error).message.trim()}`;
  } finally {
    if (loop !== undefined) spawnSync('losetup', ['-d', loop]);
    rmSync(probe, { force: true });
  }
}

const cleanups: Array<() => void> = [];
after(() => {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch {
      // best effort: a busy mount must not hide the test's own failure
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Mounts `image` (ext4) on a fresh loop device; returns the mount point. */
function mountImage(image: string, name: string): { mountPoint: string; unmount(): void } {
  const loop = run('losetup', ['--find', '--show', image]);
  const mountPoint = join(dir, name);
  mkdirSync(mountPoint);
  try {
    run('mount', ['-t', 'ext4', '-o', 'commit=600', loop, mountPoint]);
  } catch (error) {
    run('losetup', ['-d', loop]);
    throw error;
  }
  let mounted = true;
  const unmount = (): void => {
    if (!mounted) return;
    mounted = false;
    run('umount', [mountPoint]);
    run('losetup', ['-d', loop]);
  };
  cleanups.push(unmount);
  return { mountPoint, unmount };
}

/** Writes until ACKS_BEFORE_CUT writes were acknowledged, then cuts the power. */
async function writeThenCut(name: string, synchronous: 'group' | 'full' | 'normal', attempt = 1): Promise<{ acknowledged: string[]; afterCut: string }> {
  const image = join(dir, `${name}-${attempt}.img`);
  run('truncate', ['-s', '256M', image]);
  run('mkfs.ext4', ['-q', '-F', image]);
  const disk = mountImage(image, `${name}-${attempt}`);
  const path = join(disk.mountPoint, 'store.db');
  const writer = new URL('../src/store/sqlite/acknowledging-writer.test-child.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', writer, path, synchronous], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const acknowledged: string[] = [];
  let copied = false;
  const afterCut = join(dir, `${name}-${attempt}-after-cut.img`);
  for await (const line of createInterface({ input: child.stdout })) {
    acknowledged.push(line);
    if (acknowledged.length === ACKS_BEFORE_CUT) {
      child.kill('SIGKILL');
      await exited;
      // The cut: no sync, no unmount first. Only what reached the loop device is in the copy.
      copyFileSync(image, afterCut);
      copied = true;
    }
  }
  await exited;
  disk.unmount();
  // A writer that died before the cut measured nothing (seen once in CI: SQLITE_FULL on a fresh
  // 256 MB image after 393 small writes, cause not found): run it again on a new image, once.
  if (!copied && attempt === 1) {
    process.stdout.write(`# ${name}: the writer stopped after ${acknowledged.length} writes, before the cut; again on a new image\n`);
    return writeThenCut(name, synchronous, 2);
  }
  assert.ok(copied, `the writer stopped after ${acknowledged.length} writes, before the cut`);
  return { acknowledged, afterCut };
}

/** Mounts the after-cut image and reports what the store says. */
async function afterPowerLoss(image: string, name: string, acknowledged: string[]): Promise<{ missing: string[]; refused?: string }> {
  const disk = mountImage(image, name);
  try {
    const store = openSqliteStore(join(disk.mountPoint, 'store.db'));
    try {
      const present = new Set([...(await store.range('/b/')).kvs, ...(await store.range('/s/')).kvs].map((kv) => kv.key));
      return { missing: acknowledged.filter((key) => !present.has(key)) };
    } finally {
      await store.close();
    }
  } catch (error) {
    if (isDroverError(error, 'STORE_DAMAGED')) return { missing: [], refused: error.message };
    throw error;
  } finally {
    disk.unmount();
  }
}

const skip = whyNot();

describe('SQLite store across a power loss', { skip }, () => {
  for (const mode of ['group', 'full'] as const) {
    test(`${mode === 'group' ? 'as shipped (group fsync)' : 'synchronous=FULL'}: every acknowledged write survives, and the store opens`, async () => {
      const { acknowledged, afterCut } = await writeThenCut(mode, mode);
      const result = await afterPowerLoss(afterCut, `${mode}-check`, acknowledged);
      assert.equal(result.refused, undefined, `refused after a power loss it should survive: ${result.refused}`);
      assert.deepEqual(result.missing.slice(0, 5), [], `${result.missing.length} of ${acknowledged.length} acknowledged writes lost`);
    });
  }

  test('control, synchronous=NORMAL: the same cut loses acknowledged writes, or the store refuses to open', async () => {
    const { acknowledged, afterCut } = await writeThenCut('normal', 'normal');
    const result = await afterPowerLoss(afterCut, 'normal-check', acknowledged);
    // Either outcome shows the cut dropped unsynced data. Under NORMAL the revision mark may be
    // lost with the data, so a quiet open with writes missing is possible: that is why NORMAL is
    // not the default, and why this control asserts only that the simulation loses something.
    assert.ok(result.refused !== undefined || result.missing.length > 0, 'the simulated power loss dropped nothing: the test cannot tell durable from not');
    process.stdout.write(`# control (NORMAL): ${result.refused === undefined ? `${result.missing.length} of ${acknowledged.length} acknowledged writes lost` : `refused: ${result.refused}`}\n`);
  });
});
