import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { judgeMissingFile, judgeStore, type ClusterIdentity } from './cluster-identity.ts';

const A: ClusterIdentity = { clusterId: 'a'.repeat(32), createdAt: 1_700_000_000_000 };
const B: ClusterIdentity = { clusterId: 'b'.repeat(32), createdAt: 1_700_000_001_000 };
const identity = fc.constantFrom(A, B);

describe('judgeStore', () => {
  test('each case of file and sidecar', () => {
    assert.deepEqual(judgeStore('s.db', { identity: undefined, hasData: false }, undefined), { action: 'create' });
    assert.deepEqual(judgeStore('s.db', { identity: undefined, hasData: true }, undefined), { action: 'adopt' });
    assert.deepEqual(judgeStore('s.db', { identity: A, hasData: true }, A), { action: 'open', writeSidecar: false });
    assert.deepEqual(judgeStore('s.db', { identity: A, hasData: false }, undefined), { action: 'open', writeSidecar: true });
    const replaced = judgeStore('s.db', { identity: B, hasData: true }, A);
    assert.equal(replaced.action, 'refuse');
    assert.match((replaced as { reason: string }).reason, /s\.db holds cluster b+ .* s\.db\.id records cluster a+/);
    const recreated = judgeStore('s.db', { identity: undefined, hasData: false }, A);
    assert.equal(recreated.action, 'refuse');
    assert.match((recreated as { reason: string }).reason, /no cluster identity.*delete s\.db\.id to start a NEW/);
  });

  test('property: never a new cluster where a sidecar records one, never two clusters accepted as one', () => {
    fc.assert(
      fc.property(fc.option(identity, { nil: undefined }), fc.boolean(), fc.option(identity, { nil: undefined }), (inFile, hasData, sidecar) => {
        const verdict = judgeStore('s.db', { identity: inFile, hasData }, sidecar);
        if (sidecar !== undefined) assert.notEqual(verdict.action, 'create');
        if (sidecar !== undefined) assert.notEqual(verdict.action, 'adopt');
        if (verdict.action === 'open' && sidecar !== undefined) assert.equal(inFile?.clusterId, sidecar.clusterId);
        // A file that carries state is never treated as fresh.
        if (hasData) assert.notEqual(verdict.action, 'create');
      }),
    );
  });
});

describe('judgeMissingFile', () => {
  test('a recorded cluster or an orphaned WAL stops SQLite from creating a fresh file', () => {
    const lost = judgeMissingFile('/d/store.db', A, 0);
    assert.equal(lost?.action, 'refuse');
    assert.match((lost as { reason: string }).reason, /\/d\/store\.db is missing or empty, but \/d\/store\.db\.id records cluster a+ .*Restore/);
    assert.equal(judgeMissingFile('/d/store.db', undefined, 4096)?.action, 'refuse');
    // Nothing recorded and nothing to lose: a first start.
    assert.equal(judgeMissingFile('/d/store.db', undefined, 0), undefined);
  });
});
