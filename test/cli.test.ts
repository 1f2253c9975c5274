/**
 * The `drover` binary as a user runs it: a real process, real sockets, a real SQLite file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { eventually } from '../devkit/process.ts';

const bin = join(import.meta.dirname, '..', 'bin', 'drover.cjs');

describe('drover CLI', () => {
  test('--help lists the commands', () => {
    const result = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /drover dev\s+Start a single-node cluster/);
  });

  test('an unknown command fails with exit 2 and says why', () => {
    const result = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Unknown argument: frobnicate/);
  });

  test('a bad --port is refused before anything starts', () => {
    const result = spawnSync(process.execPath, [bin, 'dev', '--port', '70000'], { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--port must be an integer from 0 to 65535/);
  });

  test('dev answers /ping, keeps its state under --data-dir, says why it cannot start a second time, and kills its tasks on Ctrl-C with --stop-tasks-on-exit', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'drover-dev-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const child = spawn(process.execPath, [bin, 'dev', '--port', '0', '--agent-port', '0', '--dns-port', '0', '--no-lb', '--data-dir', dataDir, '--stop-tasks-on-exit'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    const url = await new Promise<string>((resolveUrl, reject) => {
      // A bound on never starting (a loaded machine took over 60 s), not a speed check.
      const timer = setTimeout(() => reject(new Error(`no URL printed; stdout: ${out}`)), 180_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match?.[1]) {
          clearTimeout(timer);
          resolveUrl(match[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${String(code)}: ${out}`)));
    });
    // Not a terminal: log lines are JSON.
    const firstLog = out.split('\n').find((l) => l.startsWith('{'));
    assert.equal((JSON.parse(firstLog ?? '{}') as { name?: string }).name, 'drover-dev');
    const response = await fetch(`${url}/ping`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'pong');
    assert.ok((await stat(join(dataDir, 'store.db'))).isFile(), 'the embedded store lives in the data dir');
    // The agent registers with the master in the same process.
    const agents = await eventually(
      async () => {
        const { slaves } = (await (await fetch(`${url}/master/state`)).json()) as { slaves: Array<{ active: boolean }> };
        return slaves.length > 0 && slaves;
      },
      'the agent registered',
      60_000,
    );
    assert.equal(agents.length, 1);
    assert.equal(agents[0]?.active, true);
    assert.ok((await stat(join(dataDir, 'agent'))).isDirectory(), 'the agent work dir lives in the data dir');

    // A second drover dev on its port, or on its data dir: one sentence with the fix, no stack.
    const port = new URL(url).port;
    const busy = spawnSync(process.execPath, [bin, 'dev', '--port', port, '--agent-port', '0', '--dns-port', '0', '--no-lb', '--data-dir', join(dataDir, 'other')], {
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(busy.status, 1, busy.stderr);
    assert.match(busy.stderr, new RegExp(`^drover dev: port 127\\.0\\.0\\.1:${port} is already in use .*\\n {2}Stop it, or choose another port with --port N`, 'm'));
    assert.doesNotMatch(busy.stderr, /^\s+at /m, 'no stack trace');
    const locked = spawnSync(process.execPath, [bin, 'dev', '--port', '0', '--agent-port', '0', '--dns-port', '0', '--no-lb', '--data-dir', dataDir, '--log-format', 'pretty'], {
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(locked.status, 1, locked.stderr);
    assert.match(locked.stderr, /^drover dev: the data dir \S+ is in use: another drover holds its store/m);
    assert.doesNotMatch(locked.stderr, /^\s+at /m, 'no stack trace');

    // A task, then Ctrl-C: with --stop-tasks-on-exit its process is gone when drover dev is.
    const marker = String(3000 + (process.pid % 5000));
    // (Once more on a new connection: the server closed the pooled one while spawnSync blocked us.)
    const post = () =>
      fetch(`${url}/v2/apps`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: '/dev-exit', cmd: `exec sleep ${marker}`, cpus: 0.01, mem: 16, instances: 1 }),
      });
    const added = await post().catch(post);
    assert.equal(added.status, 201, await added.text());
    const pid = await eventually(() => sleepPid(marker), `the task's sleep ${marker} runs`, 120_000);
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, out);
    assert.match(out, /^drover dev: stopped; killed 1 task\(s\)$/m);
    assert.equal(alive(pid), false, `the task (pid ${pid}) was killed`);
  });

  test('an unwritable data dir is one sentence with the fix, no stack', async (t) => {
    // A read-only file system (we are root: modes would not stop us).
    const dir = await mkdtemp(join(tmpdir(), 'drover-ro-'));
    t.after(async () => {
      spawnSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir]);
    assert.equal(mounted.status, 0, String(mounted.stderr));
    const r = spawnSync(process.execPath, [bin, 'dev', '--port', '0', '--agent-port', '0', '--dns-port', '0', '--no-lb', '--data-dir', join(dir, 'data')], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^drover dev: cannot write \S+\/data \(the file system is read-only, EROFS on mkdir\)\.\n {2}Give drover dev a folder it can write with --data-dir DIR/m);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });
});

/** The pid of a `sleep MARKER` process, if one runs. */
function sleepPid(marker: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === `sleep\0${marker}\0`) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    // A zombie is dead too: only its parent has yet to reap it.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
