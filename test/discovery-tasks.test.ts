/**
 * An app finds another from INSIDE its task (issue 18, "done when"): a real `drover dev` whose
 * agent runs its resolver for tasks (`--agent-dns`, a random 127/8 address on port 53; each task's
 * /etc/resolv.conf names it) and programs VIPs in the kernel (on by default in `drover dev`, in a
 * table of its own here). App A is busybox httpd; app B's command resolves `a.marathon.mesos` with
 * the C library (`getent hosts`) and fetches from A with curl by that name and by A's VIP name
 * `a.marathon.l4lb.thisdcos.directory:80`, then writes what it saw to a file in its sandbox.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { vipsUnavailable } from '../src/agent/vip/kernel-vips.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { httpCall, type HttpAnswer } from './support/http.ts';
import { digAt, freeDnsPort } from './support/dns.ts';

const run = promisify(execFile);
const SUFFIX = `_t${randomBytes(3).toString('hex')}`;
const RESOLVER = `127.${randomInt(1, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
const BASE = 30_000 + randomInt(0, 180) * 50;
const A_PORT = BASE + 7;
let root: string;
let dev: DroverProcess;
let vipReason: string | undefined;

const call = (method: string, path: string, body?: unknown): Promise<HttpAnswer> => httpCall(dev.url, method, path, body);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-dnstask-'));
  vipReason = await vipsUnavailable();
  const dnsPort = await freeDnsPort();
  dev = await startDrover([
    'dev',
    '--port',
    '0',
    '--agent-port',
    '0',
    '--data-dir',
    root,
    '--dns-port',
    String(dnsPort),
    '--agent-dns',
    `${RESOLVER}:53`,
    '--vip-table-suffix',
    SUFFIX,
    '--no-lb',
    '--no-jobs',
    '--resources',
    `cpus:4;mem:4096;disk:1000;ports:[${BASE}-${BASE + 49}]`,
  ]);
  await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered');
});

after(async () => {
  if (dev) {
    for (const id of ['/a', '/b']) await call('DELETE', `/v2/apps${id}?force=true`).catch(() => undefined);
    await eventually(async () => ((await call('GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 60_000).catch(() => undefined);
    await dev.stop();
  }
  // The VIP table goes with the cluster; if a crash left it, it goes here.
  await run('nft', ['delete', 'table', 'ip', `drover${SUFFIX}`]).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

/** The first file named `name` under the agent's sandboxes. */
async function sandboxFile(name: string): Promise<string | undefined> {
  const entries = await readdir(join(root, 'agent', 'slaves'), { recursive: true }).catch(() => [] as string[]);
  const hit = entries.find((e) => e.endsWith(`/${name}`));
  return hit === undefined ? undefined : readFile(join(root, 'agent', 'slaves', hit), 'utf8');
}

test("a task resolves another app's Mesos-DNS and VIP names with the system resolver and fetches from it", async (t) => {
  // The agent's resolver answers cluster names itself (forwarded to the master's DNS).
  const a = await call('POST', '/v2/apps', {
    id: '/a',
    cmd: 'mkdir -p www && echo hello-from-a > www/index.html && exec busybox httpd -f -p $PORT0 -h www',
    cpus: 0.1,
    mem: 32,
    requirePorts: true,
    portDefinitions: [{ port: A_PORT, name: 'http', labels: { VIP_0: '/a:80' } }],
  });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  await eventually(async () => (await digAt(53, 'a.marathon.mesos', 'A', false, RESOLVER)).answers.length > 0, 'a.marathon.mesos through the agent resolver', 120_000);

  const vipCheck = vipReason === undefined ? 'v=$(curl -fsS --max-time 5 http://a.marathon.l4lb.thisdcos.directory:80/) &&' : 'v=skipped &&';
  const b = await call('POST', '/v2/apps', {
    id: '/b',
    cmd: [
      'for i in $(seq 1 90); do',
      `  n=$(getent hosts a.marathon.mesos) && m=$(curl -fsS --max-time 5 http://a.marathon.mesos:${A_PORT}/) && ${vipCheck} break`,
      '  sleep 1',
      'done',
      `printf 'getent=%s\\nname=%s\\nvip=%s\\nresolv=%s\\n' "$n" "$m" "$v" "$(grep nameserver /etc/resolv.conf | tr '\\n' ' ')" > found.tmp && mv found.tmp found.txt`,
      'exec sleep 600',
    ].join('\n'),
    cpus: 0.1,
    mem: 32,
  });
  assert.equal(b.status, 201, JSON.stringify(b.body));
  const found = await eventually(() => sandboxFile('found.txt'), "app B's findings", 180_000);
  const fields = Object.fromEntries(
    found
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
  assert.equal(fields['resolv'], `nameserver ${RESOLVER}`, "the task's /etc/resolv.conf names the agent's resolver");
  assert.match(fields['getent'] ?? '', /^127\.0\.0\.1\s+a\.marathon\.mesos$/, `getent hosts in the task: ${found}`);
  assert.equal(fields['name'], 'hello-from-a', `fetched by the Mesos-DNS name: ${found}`);
  if (vipReason === undefined) assert.equal(fields['vip'], 'hello-from-a', `fetched by the VIP name: ${found}`);
  else t.diagnostic(`VIP name not checked: ${vipReason}`);
});
