import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { modeString } from './files.ts';

describe('modeString', () => {
  test('ls -l style, as Mesos reports modes', () => {
    assert.equal(modeString(0o040755), 'drwxr-xr-x');
    assert.equal(modeString(0o100644), '-rw-r--r--');
    assert.equal(modeString(0o120777), 'lrwxrwxrwx');
    assert.equal(modeString(0o100600), '-rw-------');
  });
});
