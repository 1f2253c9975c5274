/**
 * An app finds another from INSIDE its task (issue 18, "done when"): a real `drover dev` whose
 * agent runs its resolver for tasks (`--agent-dns`, a random 127/8 address on port 53; each task's
 * /etc/resolv.conf names it) and programs VIPs in the kernel (on by default in `drover dev`, in a
 * table of its own here). App A is busybox httpd; app B's command resolves `a.marathon.mesos` with
 * the C library (`getent hosts`) and fetches from A with curl by that name and by A's VIP name
 * `a.marathon.l4lb.thisdcos.directory:80`, then writes what it saw to a file in its sandbox.
 *
 * The same cluster (one per file) for the tasks the host's loopback does not reach:
 * - on bridge networking (a bridge and subnet of this test's own), where the resolver is reached
 *   at the bridge's gateway: app D resolves bridged app C by name and fetches from it by name;
 * - in an image (a real docker-registry on loopback serving devkit/registry.ts's busybox image),
 *   where the resolv.conf is bound inside the image's root: app E resolves A with busybox's own
 *   resolver (nslookup reads /etc/resolv.conf) and fetches from the address it got.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { vipsUnavailable } from '../src/agent/vip/kernel-vips.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';
import { httpCall, type HttpAnswer } from './support/http.ts';
import { digAt, freeDnsPort } from './support/dns.ts';

const run = promisify(execFile);
const SUFFIX = `_t${randomBytes(3).toString('hex')}`;
const RESOLVER = `127.${randomInt(1, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
const BASE = 30_000 + randomInt(0, 180) * 50;
const A_PORT = BASE + 7;
const BRIDGE = `drdns${randomBytes(3).toString('hex')}`;
const SUBNET_PREFIX = `10.${randomInt(160, 200)}.${randomInt(0, 256)}`;
/** host-local's default gateway: the subnet's first address, on the bridge (`isGateway`). */
const GATEWAY = `${SUBNET_PREFIX}.1`;
const APPS = ['/a', '/b', '/c', '/d', '/e'];
let root: string;
let dev: DroverProcess;
let registry: Registry;
let vipReason: string | undefined;

const call = (method: string, path: string, body?: unknown): Promise<HttpAnswer> => httpCall(dev.url, method, path, body);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-dnstask-'));
  // Image roots under it are read by the tasks' users.
  await chmod(root, 0o755);
  const images = await buildTestImages(root);
  registry = await startRegistry({ dir: root });
  await pushImage(images, 'hello', registry, 'drover/hello:latest');
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
    '--bridge-name',
    BRIDGE,
    '--bridge-subnet',
    `${SUBNET_PREFIX}.0/24`,
    '--resources',
    `cpus:4;mem:4096;disk:1000;ports:[${BASE}-${BASE + 49}]`,
  ]);
  await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered');
});

after(async () => {
  if (dev) {
    for (const id of APPS) await call('DELETE', `/v2/apps${id}?force=true`).catch(() => undefined);
    await eventually(async () => ((await call('GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 60_000).catch(() => undefined);
    await dev.stop();
  }
  killImageTasksUnder(root);
  await registry?.stop();
  // CNI's DEL leaves the bridge itself.
  await run('ip', ['link', 'delete', BRIDGE]).catch(() => undefined);
  // Rootfs mounts of tasks the agent did not live to destroy (never remove through a live overlay).
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${root}/`));
  for (const m of mounts.reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
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

/** The key=value lines a task wrote. */
function fieldsOf(found: string): Record<string, string> {
  return Object.fromEntries(
    found
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
}

let appA: Promise<void> | undefined;
/** App A (host networking, a VIP), once for the tests that look for it. */
function startA(): Promise<void> {
  appA ??= (async () => {
    const a = await call('POST', '/v2/apps', {
      id: '/a',
      cmd: 'mkdir -p www && echo hello-from-a > www/index.html && exec busybox httpd -f -p $PORT0 -h www',
      cpus: 0.1,
      mem: 32,
      requirePorts: true,
      portDefinitions: [{ port: A_PORT, name: 'http', labels: { VIP_0: '/a:80' } }],
    });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    // The agent's resolver answers cluster names (forwarded to the master's DNS).
    await eventually(async () => (await digAt(53, 'a.marathon.mesos', 'A', false, RESOLVER)).answers.length > 0, 'a.marathon.mesos through the agent resolver', 120_000);
  })();
  return appA;
}

test("a task resolves another app's Mesos-DNS and VIP names with the system resolver and fetches from it", async (t) => {
  await startA();

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
  const fields = fieldsOf(found);
  assert.equal(fields['resolv'], `nameserver ${RESOLVER}`, "the task's /etc/resolv.conf names the agent's resolver");
  assert.match(fields['getent'] ?? '', /^127\.0\.0\.1\s+a\.marathon\.mesos$/, `getent hosts in the task: ${found}`);
  assert.equal(fields['name'], 'hello-from-a', `fetched by the Mesos-DNS name: ${found}`);
  if (vipReason === undefined) assert.equal(fields['vip'], 'hello-from-a', `fetched by the VIP name: ${found}`);
  else t.diagnostic(`VIP name not checked: ${vipReason}`);
});

test("a task on bridge networking resolves a bridged app's name through the agent's resolver at the bridge's gateway and fetches from it by name", async () => {
  const c = await call('POST', '/v2/apps', {
    id: '/c',
    cmd: 'mkdir -p www && echo hello-from-c > www/index.html && exec busybox httpd -f -p 8080 -h www',
    cpus: 0.1,
    mem: 32,
    networks: [{ mode: 'container/bridge' }],
    container: { type: 'MESOS', portMappings: [{ containerPort: 8080, hostPort: 0, name: 'http' }] },
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  // C's records carry its address on the bridge (Mesos-DNS' netinfo source).
  await eventually(
    async () => (await digAt(53, 'c.marathon.mesos', 'A', false, RESOLVER)).answers.some((r) => r.data.startsWith(`${SUBNET_PREFIX}.`)),
    'c.marathon.mesos at its bridge address',
    120_000,
  );
  const d = await call('POST', '/v2/apps', {
    id: '/d',
    cmd: [
      'for i in $(seq 1 90); do',
      '  n=$(getent hosts c.marathon.mesos) && m=$(curl -fsS --max-time 5 http://c.marathon.mesos:8080/) && break',
      '  sleep 1',
      'done',
      `printf 'getent=%s\\nname=%s\\nresolv=%s\\n' "$n" "$m" "$(grep nameserver /etc/resolv.conf | tr '\\n' ' ')" > found.tmp && mv found.tmp found-bridge.txt`,
      'exec sleep 600',
    ].join('\n'),
    cpus: 0.1,
    mem: 32,
    networks: [{ mode: 'container/bridge' }],
    container: { type: 'MESOS' },
  });
  assert.equal(d.status, 201, JSON.stringify(d.body));
  const found = await eventually(() => sandboxFile('found-bridge.txt'), "app D's findings", 180_000);
  const fields = fieldsOf(found);
  assert.equal(fields['resolv'], `nameserver ${GATEWAY}`, `the bridged task's /etc/resolv.conf names the agent's resolver at the bridge's gateway: ${found}`);
  assert.match(fields['getent'] ?? '', new RegExp(`^${SUBNET_PREFIX.replaceAll('.', '\\.')}\\.\\d+\\s+c\\.marathon\\.mesos$`), `getent hosts in the bridged task: ${found}`);
  assert.equal(fields['name'], 'hello-from-c', `fetched by the Mesos-DNS name from the bridge: ${found}`);
});

test("a task in an image resolves a cluster name through the resolv.conf bound in the image's root", async () => {
  await startA();
  const e = await call('POST', '/v2/apps', {
    id: '/e',
    // The image has busybox and nothing else: its own nslookup (which reads /etc/resolv.conf) and wget (whose -T crashes busybox 1.35: timeout instead).
    cmd: [
      'cd "$MESOS_SANDBOX"',
      'for i in $(busybox seq 1 90); do',
      '  n=$(busybox nslookup a.marathon.mesos) && ip=$(echo "$n" | busybox awk \'/^Address/ && !/:53$/ { a = $NF } END { print a }\') && [ -n "$ip" ] &&',
      `  m=$(busybox timeout 5 busybox wget -q -O - http://$ip:${A_PORT}/) && break`,
      '  busybox sleep 1',
      'done',
      `printf 'ip=%s\\nname=%s\\nresolv=%s\\n' "$ip" "$m" "$(busybox grep nameserver /etc/resolv.conf | busybox tr '\\n' ' ')" > found.tmp && busybox mv found.tmp found-image.txt`,
      'exec busybox sleep 600',
    ].join('\n'),
    cpus: 0.1,
    mem: 32,
    container: { type: 'MESOS', docker: { image: `${registry.host}/drover/hello` } },
  });
  assert.equal(e.status, 201, JSON.stringify(e.body));
  const found = await eventually(() => sandboxFile('found-image.txt'), "app E's findings", 180_000);
  const fields = fieldsOf(found);
  assert.equal(fields['resolv'], `nameserver ${RESOLVER}`, `/etc/resolv.conf in the image's root names the agent's resolver: ${found}`);
  assert.equal(fields['ip'], '127.0.0.1', `a.marathon.mesos resolved in the image: ${found}`);
  assert.equal(fields['name'], 'hello-from-a', `fetched from the resolved address: ${found}`);
});
