import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../log/index.ts';
import { BOOT_ID_FILE, readBootId, rebootedSince } from './boot-id.ts';

test('a reboot is a recorded boot id that differs from the current one; unknown on either side is none', () => {
  assert.equal(rebootedSince('a', 'b'), true);
  assert.equal(rebootedSince('a', 'a'), false);
  assert.equal(rebootedSince(undefined, 'b'), false);
  assert.equal(rebootedSince('a', undefined), false);
});

test('reads the boot id from its file, trimmed; a missing file is no boot id', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'drover-boot-'));
  try {
    await writeFile(join(dir, 'boot_id'), 'f00d-1\n');
    assert.equal(await readBootId(join(dir, 'boot_id'), silentLogger()), 'f00d-1');
    assert.equal(await readBootId(join(dir, 'missing'), silentLogger()), undefined);
    // This machine's real one (Linux): a UUID.
    assert.match((await readBootId(BOOT_ID_FILE, silentLogger())) ?? '', /^[0-9a-f-]{36}$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
