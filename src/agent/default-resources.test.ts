import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../resources/index.ts';
import { defaultResources } from './default-resources.ts';

describe('defaultResources', () => {
  test('all CPUs, memory and disk minus a reserve, ports 31000-32000', () => {
    // mem: 16384 - min(1024, 1638.4) = 15360; disk: 100000 - min(5120, 10000) = 94880
    const resources = defaultResources({ cpus: 8, totalMemMb: 16384, freeDiskMb: 100_000 });
    assert.equal(resources.format(), 'cpus:8;mem:15360;disk:94880;ports:[31000-32000]');
  });

  test('small machines keep 10% back', () => {
    // mem: 2000 - 200 = 1800; disk: 1000 - 100 = 900
    assert.equal(defaultResources({ cpus: 1, totalMemMb: 2000, freeDiskMb: 1000 }).format(), 'cpus:1;mem:1800;disk:900;ports:[31000-32000]');
  });

  test('what --resources names is kept; only the rest is filled in', () => {
    const given = Resources.parse('cpus(web):2;ports:[5000-5001];gpus:1');
    const resources = defaultResources({ cpus: 8, totalMemMb: 4096, freeDiskMb: 0 }, given);
    assert.equal(resources.format(), 'cpus(web):2;ports:[5000-5001];gpus:1;mem:3686');
  });
});
