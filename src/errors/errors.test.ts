import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DroverError, ErrorCodes, isDroverError } from './errors.ts';

test('every error code is documented in docs/errors.md, with its status', async () => {
  const catalogue = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
  for (const { code, status } of Object.values(ErrorCodes)) {
    assert.match(catalogue, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `${code} (${status}) is in the catalogue`);
  }
});

test('codes are unique and follow DROVER_ERR_*', () => {
  const codes = Object.values(ErrorCodes).map((c) => c.code);
  assert.equal(new Set(codes).size, codes.length);
  for (const code of codes) assert.match(code, /^DROVER_ERR_[A-Z_]+$/);
});

test('a DroverError carries code, status, details and cause, and serialises without the stack', () => {
  const cause = new Error('disk on fire');
  const e = new DroverError('VALIDATION', 'Object is not valid', { details: [{ path: '/cpus', errors: ['must be >= 0.001'] }], cause });
  assert.equal(e.code, 'DROVER_ERR_VALIDATION');
  assert.equal(e.status, 422);
  assert.equal(e.cause, cause);
  assert.ok(isDroverError(e, 'VALIDATION'));
  assert.ok(!isDroverError(e, 'CONFLICT'));
  assert.ok(!isDroverError(new Error('plain')));
  assert.deepEqual(JSON.parse(JSON.stringify(e)), {
    message: 'Object is not valid',
    code: 'DROVER_ERR_VALIDATION',
    details: [{ path: '/cpus', errors: ['must be >= 0.001'] }],
  });
});
