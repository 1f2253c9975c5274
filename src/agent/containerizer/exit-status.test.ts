import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeExit, EXIT_FILE, exitStatusFromShellCode, readExitFile } from './exit-status.ts';
import { parseProcStat } from './proc.ts';

describe('exit status', () => {
  test("a shell's 128+N is read as signal N", () => {
    assert.deepEqual(exitStatusFromShellCode(0), { exitCode: 0 });
    assert.deepEqual(exitStatusFromShellCode(128), { exitCode: 128 });
    assert.deepEqual(exitStatusFromShellCode(137), { signal: 'SIGKILL' });
    assert.deepEqual(exitStatusFromShellCode(139), { signal: 'SIGSEGV' });
    assert.deepEqual(exitStatusFromShellCode(255), { exitCode: 255 });
  });

  test("Mesos' wording", () => {
    assert.equal(describeExit({ exitCode: 3 }), 'Command exited with status 3');
    assert.equal(describeExit({ signal: 'SIGSEGV' }), 'Command terminated with signal SIGSEGV');
    assert.match(describeExit({}), /unknown/);
  });

  test('the exit file: a status when well-formed, nothing otherwise', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-exit-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    assert.equal(await readExitFile(dir), undefined);
    await writeFile(join(dir, EXIT_FILE), '143\n');
    assert.deepEqual(await readExitFile(dir), { signal: 'SIGTERM' });
    await writeFile(join(dir, EXIT_FILE), 'garbage');
    assert.equal(await readExitFile(dir), undefined);
  });
});

describe('parseProcStat', () => {
  test('reads state, process group and start time, whatever the command name contains', () => {
    const fields = ['S', '1', '4242', '4242', '0', '-1', '4194560', '1', '0', '0', '0', '0', '0', '0', '0', '20', '0', '1', '0', '987654', '1000'];
    assert.deepEqual(parseProcStat(`4242 (we ird) (name) ${fields.join(' ')}`), { state: 'S', pgrp: 4242, startTime: 987654 });
    assert.equal(parseProcStat('garbage'), undefined);
  });
});
