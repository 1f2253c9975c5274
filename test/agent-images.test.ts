/**
 * The agent's image API and `drover image list|pull|rm`, against a real agent (in process, with
 * the stand-in master) and a real docker-registry on loopback: bad input is a 4xx naming the
 * field and changes nothing; the CLI pulls, lists and removes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DROVER_BIN } from '../devkit/process.ts';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { Agent } from '../src/agent/agent.ts';
import { Resources } from '../src/resources/index.ts';
import { FakeMaster } from './agent-fake-master.ts';
import { FAST_AGENT } from './support/agent.ts';
import { httpCall } from './support/http.ts';

const run = promisify(execFile);

let dir: string;
let registry: Registry;
let master: FakeMaster;
let agent: Agent;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-agent-images-'));
  const images = await buildTestImages(dir);
  registry = await startRegistry({ dir });
  await pushImage(images, 'hello', registry, 'drover/hello:latest');
  master = await FakeMaster.start();
  agent = new Agent({ masterUrl: master.url, port: 0, workDir: join(dir, 'work'), resources: Resources.parse('cpus:1;mem:256'), containerizer: 'posix', ...FAST_AGENT });
  await agent.start();
});

after(async () => {
  await agent?.shutdown(0);
  await master?.close();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The CLI as a child process (async: the agent answering it runs in this process). */
async function drover(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [DROVER_BIN, ...args, '--agent', agent.url], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('bad pull requests get a 4xx naming the field and store nothing', async () => {
  const cases: [unknown, number, string][] = [
    [{ image: 'Upper/Case' }, 400, '/image'],
    [{ image: 5 }, 422, '/image'],
    [{ image: `${registry.host}/drover/hello`, force: 'yes' }, 422, '/force'],
    [{ image: `${registry.host}/drover/hello`, dockerConfig: { auths: [] } }, 422, '/auths'],
    [{ image: 'x'.repeat(600) }, 422, '/image'],
    ['[1,2]', 422, ''],
  ];
  for (const [body, status, path] of cases) {
    const answer = await httpCall(agent.url, 'POST', '/images/pull', body);
    assert.equal(answer.status, status, JSON.stringify(body).slice(0, 80));
    const details = (answer.body as { details: { path: string }[] }).details;
    assert.equal(details[0]?.path, path, JSON.stringify(answer.body));
  }
  const missing = await httpCall(agent.url, 'DELETE', `/images?image=${encodeURIComponent(`${registry.host}/drover/none`)}`);
  assert.equal(missing.status, 404);
  assert.deepEqual((await httpCall(agent.url, 'GET', '/images')).body, { images: [] });
});

test('drover image pull, list and rm', async () => {
  const reference = `${registry.host}/drover/hello:latest`;
  const pulled = await drover('image', 'pull', `${registry.host}/drover/hello`, '--json');
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal((JSON.parse(pulled.stdout) as { reference: string }).reference, reference);
  const listed = await drover('image', 'list');
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /IMAGE\s+DIGEST\s+LAYERS\s+SIZE\s+TASKS/);
  assert.ok(listed.stdout.includes(reference), listed.stdout);
  // A task's hold makes rm refuse (409), and the image stays.
  await agent.images.hold(reference, 'task-a');
  const refused = await drover('image', 'rm', reference);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /in use by a task \(HTTP 409\)/);
  await agent.images.release('task-a');
  const removed = await drover('image', 'rm', reference);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual((await httpCall(agent.url, 'GET', '/images')).body, { images: [] });
  const again = await drover('image', 'rm', reference);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /not stored on this agent \(HTTP 404\)/);
});
