/**
 * The `drover` binary as a user runs it: a real process, real sockets, a real SQLite file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
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

  test('dev answers /ping, keeps its state under --data-dir, and stops cleanly on SIGTERM', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'drover-dev-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const child = spawn(process.execPath, [bin, 'dev', '--port', '0', '--agent-port', '0', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DROVER_LOG_LEVEL: 'warn' },
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
      15_000,
    );
    assert.equal(agents.length, 1);
    assert.equal(agents[0]?.active, true);
    assert.ok((await stat(join(dataDir, 'agent'))).isDirectory(), 'the agent work dir lives in the data dir');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
