/**
 * The fetcher through a real Agent and the stand-in master: URIs land in the sandbox before the
 * command starts, and a URI that cannot be fetched fails the task with the URI and the reason.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../src/agent/agent.ts';
import type { CommandInfo, TaskInfo } from '../src/protocol/mesos/scheduler.ts';
import { Resources } from '../src/resources/index.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { FAST_AGENT } from './support/agent.ts';

let files: string;
let server: Server;
let base: string;
let requests = 0;

before(async () => {
  files = await mkdtemp(join(tmpdir(), 'drover-fetch-files-'));
  await mkdir(join(files, 'app'));
  await writeFile(join(files, 'app', 'greeting'), 'hello from the archive\n');
  await writeFile(join(files, 'run.sh'), 'echo "$(cat app/greeting) via run.sh"\n');
  execFileSync('tar', ['-czf', join(files, 'app.tgz'), '-C', files, 'app']);
  server = createServer((req, res) => {
    requests += 1;
    readFile(join(files, (req.url ?? '/').slice(1))).then(
      (body) => res.end(body),
      () => {
        res.statusCode = 404;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await rm(files, { recursive: true, force: true });
});

let workDir: string;
let master: FakeMaster;
let agent: Agent;

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'drover-agent-fetch-'));
  master = await FakeMaster.start();
  agent = new Agent({
    masterUrl: master.url,
    port: 0,
    workDir,
    resources: Resources.parse('cpus:2;mem:1024'),
    ...FAST_AGENT,
    killGracePeriodMs: 500,
    fetcher: { timeoutMs: 2000 },
  });
  await agent.start();
  await master.waitFor(() => agent.registered && master.connected && agent.agentId !== undefined, 'registration');
});

afterEach(async () => {
  await agent.shutdown(0);
  killTasksUnder(workDir);
  await master.close();
  await rm(workDir, { recursive: true, force: true });
});

function launch(id: string, command: CommandInfo): void {
  const task: TaskInfo = {
    name: id,
    task_id: { value: id },
    agent_id: { value: agent.agentId! },
    resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
    command,
  };
  master.push({ type: 'LAUNCH', launch: { framework_id: FRAMEWORK.id!, framework_info: FRAMEWORK, tasks: [task] } });
}

describe('agent fetcher', () => {
  test('an archive and an executable script are in the sandbox when the command runs', async () => {
    launch('fetched', {
      value: './run.sh',
      shell: true,
      uris: [{ value: `${base}/app.tgz` }, { value: `${base}/run.sh`, executable: true, cache: true }],
    });
    const finished = await master.update('fetched', 'TASK_FINISHED');
    assert.deepEqual(master.statesOf('fetched'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    assert.equal(await readFile(join(finished.directory!, 'stdout'), 'utf8'), 'hello from the archive via run.sh\n');

    // The cached script is served from <workDir>/cache the second time.
    const before = requests;
    launch('cached', { value: './run.sh', shell: true, uris: [{ value: `${base}/run.sh`, executable: true, cache: true }, { value: `${base}/app.tgz` }] });
    await master.update('cached', 'TASK_FINISHED');
    assert.equal(requests - before, 1, 'only the uncached archive was downloaded again');
  });

  test('a URI that cannot be fetched fails the task before it starts, naming the URI', async () => {
    launch('missing', { value: 'touch ran', shell: true, uris: [{ value: `${base}/nope.tgz` }] });
    const failed = await master.update('missing', 'TASK_FAILED');
    assert.equal(failed.status.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.equal(failed.status.message, `Failed to fetch '${base}/nope.tgz': HTTP 404 Not Found`);
    assert.deepEqual(master.statesOf('missing'), ['TASK_FAILED']);
    await assert.rejects(access(join(failed.directory!, 'ran')), 'the command never ran');
  });
});
