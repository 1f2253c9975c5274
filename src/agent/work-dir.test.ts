import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pathSegment, WorkDirLayout } from './work-dir.ts';

describe('pathSegment', () => {
  test('plain ids stay readable', () => {
    assert.equal(pathSegment('prod_web.instance-1a2b._app.1'), 'prod_web.instance-1a2b._app.1');
  });

  test('never a path component that could escape or nest', () => {
    for (const id of ['.', '..', '../x', 'a/b', '/', '', 'a\0b']) {
      const segment = pathSegment(id);
      assert.ok(segment !== '.' && segment !== '..' && segment !== '' && !segment.includes('/') && !segment.includes('\0'), `${JSON.stringify(id)} → ${segment}`);
    }
  });

  test('injective, and short enough for NAME_MAX', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), fc.string({ maxLength: 600 }), (a, b) => {
        if (a !== b) assert.notEqual(pathSegment(a), pathSegment(b));
        assert.ok(Buffer.byteLength(pathSegment(a)) <= 200);
      }),
    );
  });
});

describe('WorkDirLayout', () => {
  test("Mesos' sandbox layout and our meta layout", () => {
    const layout = new WorkDirLayout('/var/lib/drover');
    assert.equal(layout.sandbox('S1', 'F1', 't/1', 'c1'), '/var/lib/drover/slaves/S1/frameworks/F1/executors/t%2F1/runs/c1');
    assert.equal(layout.agentMetaFile, '/var/lib/drover/meta/agent.json');
    assert.equal(layout.taskFile('F1', 't1'), '/var/lib/drover/meta/frameworks/F1/tasks/t1/task.json');
    assert.equal(layout.updatesFile('F1', 't1'), '/var/lib/drover/meta/frameworks/F1/tasks/t1/updates.json');
  });
});
