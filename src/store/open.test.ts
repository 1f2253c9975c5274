import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { rejectsWith } from './contract/support.ts';
import { openStore, parseEtcdHosts } from './open.ts';

test('openStore picks the backend from the URL', async () => {
  const memory = await openStore('memory:');
  assert.equal(memory.backend, 'memory');
  await memory.close();
  const dir = mkdtempSync(join(tmpdir(), 'drover-open-'));
  try {
    for (const url of [`sqlite:${dir}/a.db`, `sqlite://${dir}/b.db`]) {
      const store = await openStore(url);
      assert.equal(store.backend, 'sqlite');
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('etcd URLs list host:port endpoints', () => {
  assert.deepEqual(parseEtcdHosts('u', '10.0.0.1:2379,etcd-2.local:2379,[::1]:2380'), ['http://10.0.0.1:2379', 'http://etcd-2.local:2379', 'http://[::1]:2380']);
});

test('bad store URLs fail with CONFIG', async () => {
  for (const url of ['', 'mysql://x', 'sqlite:', 'sqlite://', 'etcd://', 'etcd://host', 'etcd://host:0', 'etcd://host:99999', 'etcd://a:1,,b:2', 'memory']) {
    await rejectsWith(openStore(url), 'CONFIG', `${JSON.stringify(url)}:`);
  }
  await rejectsWith(openStore(undefined as never), 'CONFIG');
});
