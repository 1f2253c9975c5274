import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../log/index.ts';
import { WorkDirLayout } from '../work-dir.ts';
import { CheckpointStore, type TaskCheckpoint } from './checkpoint-store.ts';

test('a task whose updates file is torn (a machine crash after a write without fsync) is still recovered, without those updates', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'drover-ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const layout = new WorkDirLayout(dir);
  const store = new CheckpointStore(layout, silentLogger());
  const task: TaskCheckpoint = {
    version: 1,
    frameworkId: 'F',
    frameworkInfo: { name: 'f', user: 'root' } as TaskCheckpoint['frameworkInfo'],
    taskInfo: { name: 't', task_id: { value: 'T' }, agent_id: { value: 'A' }, resources: [] } as unknown as TaskCheckpoint['taskInfo'],
    containerId: 'C',
    sandbox: join(dir, 'sandbox'),
    state: 'TASK_RUNNING',
    launchedAtMs: 1,
  };
  await store.writeTask(task, false);
  await store.writeUpdates('F', 'T', [], false);
  await writeFile(layout.updatesFile('F', 'T'), '');
  const recovered = await store.loadTasks();
  assert.equal(recovered.length, 1);
  assert.equal(recovered[0]!.task.state, 'TASK_RUNNING');
  assert.deepEqual(recovered[0]!.updates, []);
});
