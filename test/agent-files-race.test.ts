/**
 * The sandbox file API against a task that races it: a real process swaps a folder of its sandbox
 * with a symlink to /etc (renameat2 RENAME_EXCHANGE, as fast as it can) while the API reads and
 * lists through that folder. Checking a path and then opening it again leaked /etc's files
 * (4 times in 8,000 requests); every open must be confined by what was opened, not by a check.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxFiles } from '../src/agent/http/files.ts';
import { isDroverError } from '../src/protocol/errors.ts';

const REQUESTS = 4000;
let root: string;
let swapper: ChildProcess | undefined;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-files-race-'));
  const sandbox = join(root, 'sandbox');
  await mkdir(join(sandbox, 'd'), { recursive: true });
  await writeFile(join(sandbox, 'd', 'passwd'), 'sandbox file\n');
  await symlink('/etc', join(sandbox, 'link'));
  // x86_64 renameat2 = 316, arm64 = 276; AT_FDCWD = -100; RENAME_EXCHANGE = 2.
  const nr = process.arch === 'arm64' ? 276 : 316;
  swapper = spawn('perl', ['-e', `chdir $ARGV[0] or die; my ($a, $b) = ("d", "link"); while (1) { syscall(${nr}, -100, $a, -100, $b, 2) == 0 or die "renameat2: $!" }`, sandbox], { stdio: 'ignore' });
});
after(async () => {
  swapper?.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

test('reads and listings through a folder the task swaps with a symlink never reach outside the work dir', async () => {
  const files = new SandboxFiles(root);
  const outcomes = new Map<string, number>();
  const count = (what: string): void => void outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  const leaks: string[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    try {
      if (i % 2 === 0) {
        const { data } = await files.read('sandbox/d/passwd', '0', '-1');
        if (data.includes('root:')) leaks.push(`read: ${data.slice(0, 40)}`);
        count('read ok');
      } else {
        const list = await files.browse('sandbox/d');
        if (list.some((e) => e.path.endsWith('/shadow') || e.path.endsWith('/hostname'))) leaks.push(`browse: ${list.length} entries of /etc`);
        count('browse ok');
      }
    } catch (e) {
      // 403 (the opened thing was outside) or 404 (gone mid-swap) are fine; anything else is not.
      if (!isDroverError(e) || e.status >= 500) throw e;
      count(String(e.status));
    }
  }
  assert.deepEqual(leaks.slice(0, 5), [], `leaked ${leaks.length} times; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  assert.ok((outcomes.get('read ok') ?? 0) > 0, `some reads went through: ${JSON.stringify(Object.fromEntries(outcomes))}`);
});

test('meta/ (checkpoints holding env values) is never listed nor served', async () => {
  await mkdir(join(root, 'meta'), { recursive: true });
  await writeFile(join(root, 'meta', 'agent.json'), '{"secret":1}');
  const files = new SandboxFiles(root);
  assert.ok(!(await files.browse(root)).some((e) => e.path === '/meta'), 'meta not listed at the root');
  for (const path of ['meta/agent.json', 'meta', `${root}/meta/agent.json`, 'sandbox/../meta/agent.json']) {
    await assert.rejects(files.read(path, '0', '-1'), (e: unknown) => isDroverError(e) && e.status === 403, path);
  }
  await assert.rejects(files.browse('meta'), (e: unknown) => isDroverError(e) && e.status === 403);
});
