/**
 * `drover agent` as a user runs it: a real process against the stand-in master.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resources } from '../src/resources/index.ts';
import { FakeMaster } from './agent-fake-master.ts';
import { DROVER_BIN, eventually, startDrover } from '../devkit/process.ts';

/** Runs `drover` to completion (async, so the refusals below start in parallel). */
async function drover(args: string[]): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [DROVER_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [status] = (await once(child, 'exit')) as [number | null];
  return { status, stderr };
}

describe('drover agent', () => {
  test('a bad --resources exits 2 with a message naming the problem; so do other bad flags', async () => {
    const [resources, attributes, master, port, missing] = await Promise.all([
      drover(['agent', '--master', 'http://127.0.0.1:5050', '--resources', 'cpus:abc']),
      drover(['agent', '--master', 'http://127.0.0.1:5050', '--attributes', 'rack']),
      drover(['agent', '--master', 'localhost:5050']),
      drover(['agent', '--master', 'http://127.0.0.1:5050', '--port', '70000']),
      drover(['agent']),
    ]);
    assert.equal(resources.status, 2);
    assert.match(resources.stderr, /--resources: invalid resource 'cpus:abc' at position 0: 'abc' is not a number/);
    assert.equal(attributes.status, 2);
    assert.match(attributes.stderr, /--attributes: invalid attribute 'rack'/);
    assert.equal(master.status, 2);
    assert.match(master.stderr, /--master must be an http\(s\) URL/);
    assert.equal(port.status, 2);
    assert.match(port.stderr, /--port must be an integer from 0 to 65535/);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /Missing required argument: master/);
  });

  test('registers with the master, fills in undeclared resources, and stops on SIGTERM', async (t) => {
    const workDir = await mkdtemp(join(tmpdir(), 'drover-agent-cli-'));
    const master = await FakeMaster.start();
    t.after(async () => {
      await master.close();
      await rm(workDir, { recursive: true, force: true });
    });
    const agent = await startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', workDir, '--resources', 'cpus:1.5', '--attributes', 'zone:a', '--hostname', 'cli-agent']);
    t.after(() => agent.stop('SIGKILL'));
    await master.waitFor(() => master.registrations[0], 'registration');
    const info = master.registrations[0]!.register!.agent_info;
    assert.equal(info.hostname, 'cli-agent');
    assert.equal(`http://127.0.0.1:${info.port}`, agent.url);
    const resources = Resources.fromJSON(info.resources);
    assert.equal(resources.cpus(), 1.5);
    assert.ok(resources.mem() > 0, 'memory detected');
    assert.equal(resources.ports().format(), '[31000-32000]');
    assert.deepEqual(info.attributes, [{ name: 'zone', type: 'TEXT', text: { value: 'a' } }]);
    assert.equal(await (await fetch(`${agent.url}/ping`)).text(), 'pong');
    await master.waitFor(() => master.connected, 'stream open');
    // The id is checkpointed as the registration is answered, not before the stream opens.
    const agentId = async (): Promise<string | undefined> => (JSON.parse(await readFile(join(workDir, 'meta', 'agent.json'), 'utf8').catch(() => '{}')) as { agentId?: string }).agentId;
    await eventually(async () => (await agentId()) !== undefined, 'agent.json written');
    assert.equal(await agentId(), 'agent-1');
    assert.equal(await agent.stop('SIGTERM'), 0);
  });
});
