import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicJsonWriter, readJsonFile } from './atomic-json.ts';

describe('AtomicJsonWriter', () => {
  test('overlapping writes to one file land in call order; the last value wins; no temp files remain', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-atomic-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const writer = new AtomicJsonWriter();
    const path = join(dir, 'nested', 'task.json');
    await Promise.all(Array.from({ length: 50 }, (_, i) => writer.write(path, { i })));
    assert.deepEqual(await readJsonFile(path), { i: 49 });
    assert.deepEqual(await readdir(join(dir, 'nested')), ['task.json']);
  });

  test('removeDir waits for pending writes, then removes', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-atomic-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const writer = new AtomicJsonWriter();
    const taskDir = join(dir, 'tasks', 't1');
    const pending = writer.write(join(taskDir, 'task.json'), { state: 'TASK_FINISHED' });
    await writer.removeDir(taskDir);
    await pending;
    assert.deepEqual(await readdir(join(dir, 'tasks')), []);
  });

  test('readJsonFile: undefined for a missing file', async () => {
    assert.equal(await readJsonFile('/nonexistent/drover/file.json'), undefined);
  });
});
