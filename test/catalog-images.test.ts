/**
 * `drover package install nginx` and `redis` from the built-in repository really run and answer on
 * their ports. Their images are the public ones; here they are rewritten (resource.json, as a
 * repository mirror would) to one image in a real docker-registry on loopback, built offline from
 * Debian's own nginx-light and redis-server packages (mmdebstrap → umoci → skopeo). The OCI layout is
 * built once per machine and kept under os.tmpdir() by its recipe's hash (DROVER_TEST_REBUILD=1
 * builds it anew); every run pushes it into a fresh registry and pulls it through the agent.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type DroverProcess, eventually, startDrover } from '../devkit/process.ts';
import { type Registry, startRegistry } from '../devkit/registry.ts';
import { BUILTIN_DIR } from '../src/catalog/repositories.ts';
import { linuxUnavailable } from './support/agent.ts';
import { cachedBuild } from './support/build-cache.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';

const run = promisify(execFile);
const WAIT_MS = 240_000;
const missing = ['mmdebstrap', 'umoci', 'skopeo', 'docker-registry'].filter((c) => {
  try {
    execFileSync('sh', ['-c', `command -v ${c}`]);
    return false;
  } catch {
    return true;
  }
});
const skip = linuxUnavailable() ?? (missing.length > 0 ? `missing ${missing.join(', ')} (.ci/run installs them)` : undefined);
const media = (kind: string, version = 'v1') => `application/vnd.dcos.${kind}+json;charset=utf-8;version=${version}`;

describe('nginx and redis from the built-in repository, on images built from Debian packages', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let dev: DroverProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-catalog-images-'));
    await chmod(dir, 0o755);
    // One rootfs with both servers: Debian's essential set plus nginx-light and redis-server, as
    // an OCI layout. Built once per machine (test/support/build-cache.ts: the recipe's hash names
    // it); the cluster starts meanwhile.
    const debootstrap = [
      '--quiet',
      '--variant=essential',
      '--include=nginx-light,redis-server',
      // No fsync per unpacked file: the tree is thrown away once it is a tar (on a busy disk the
      // syncs made the build take many minutes).
      '--dpkgopt=force-unsafe-io',
      '--dpkgopt=path-exclude=/usr/share/man/*',
      '--dpkgopt=path-exclude=/usr/share/doc/*',
      '--dpkgopt=path-exclude=/usr/share/locale/*',
      'bookworm',
    ];
    const config = ['--config.env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--config.workingdir', '/'];
    const image = async (): Promise<void> => {
      const built = await cachedBuild('catalog-debian-oci', { debootstrap, config }, async (out) => {
        await run('mmdebstrap', [...debootstrap, join(out, 'rootfs.tar')], { maxBuffer: 64 * 1024 * 1024, timeout: 900_000 });
        const layout = join(out, 'oci');
        await run('umoci', ['init', '--layout', layout]);
        await run('umoci', ['new', '--image', `${layout}:debian`]);
        await run('umoci', ['raw', 'add-layer', '--image', `${layout}:debian`, join(out, 'rootfs.tar')], { timeout: 900_000 });
        await run('umoci', ['config', '--image', `${layout}:debian`, ...config]);
        await rm(join(out, 'rootfs.tar'));
      });
      registry = await startRegistry({ dir });
      for (const repository of ['drover/nginx:1.22-debian', 'drover/redis:7.0-debian']) {
        await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(built, 'oci')}:debian`, `docker://${registry.host}/${repository}`], { timeout: 900_000 });
      }
    };
    const cluster = async (): Promise<void> => {
      const base = 42000 + (process.pid % 100) * 40;
      dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--no-lb', '--data-dir', join(dir, 'data'), '--resources', `cpus:4;mem:4096;disk:8000;ports:[${base}-${base + 39}]`], {
        timeoutMs: 120_000,
      });
      await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', WAIT_MS);
    };
    // Both settle before a failure is thrown, so that after() finds all that was started.
    for (const r of await Promise.allSettled([image(), cluster()])) if (r.status === 'rejected') throw r.reason;
    // The built-in packages, their images rewritten to the loopback registry.
    const mirror = join(dir, 'mirror');
    await cp(join(BUILTIN_DIR, 'packages', 'N'), join(mirror, 'packages', 'N'), { recursive: true });
    await cp(join(BUILTIN_DIR, 'packages', 'R'), join(mirror, 'packages', 'R'), { recursive: true });
    await writeFile(
      join(mirror, 'packages', 'N', 'nginx', '0', 'resource.json'),
      JSON.stringify({ assets: { container: { docker: { 'nginx-image': `${registry.host}/drover/nginx:1.22-debian` } } } }),
    );
    await writeFile(join(mirror, 'packages', 'R', 'redis', '0', 'resource.json'), JSON.stringify({ assets: { container: { docker: { redis: `${registry.host}/drover/redis:7.0-debian` } } } }));
    // The mirror reaches the master as a Universe index over HTTP (`drover dev` allows no local repositories).
    await serveMirror(mirror);
  });

  let mirrorServer: import('node:http').Server | undefined;
  async function serveMirror(mirror: string): Promise<void> {
    const { loadPackageTree } = await import('../src/catalog/repository-index.ts');
    const { packageJson } = await import('../src/catalog/package-definition.ts');
    const index = JSON.stringify({ packages: (await loadPackageTree(mirror)).map(packageJson) });
    const { createServer } = await import('node:http');
    mirrorServer = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': media('universe.repo', 'v4') });
      response.end(index);
    });
    await new Promise<void>((resolve) => mirrorServer?.listen(0, '127.0.0.1', resolve));
    const port = (mirrorServer.address() as { port: number }).port;
    const added = await call('POST', '/package/repository/add', { name: 'mirror', uri: `http://127.0.0.1:${port}/repo`, index: 0 });
    assert.equal(added.status, 200, JSON.stringify(added.body));
  }

  after(async () => {
    if (dev) {
      for (const a of ((await call('GET', '/v2/apps')).body as { apps?: Array<{ id: string }> }).apps ?? []) await call('DELETE', `/v2/apps${a.id}?force=true`);
      await eventually(async () => ((await call('GET', '/master/tasks?completed=false')).body as { tasks: unknown[] }).tasks.length === 0, 'every task ended', 60_000).catch(() => undefined);
      await dev.stop();
    }
    mirrorServer?.close();
    if (dir) killImageTasksUnder(dir);
    await registry?.stop();
    if (dir) {
      const mounts = (await readFile('/proc/self/mounts', 'utf8'))
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(`${dir}/`));
      for (const m of mounts.reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  });

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`${dev.url}${path}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }

  async function runningTask(appId: string): Promise<{ ports: number[] }> {
    let seen: unknown;
    return eventually(
      async () => {
        const tasks = ((await call('GET', `/v2/apps${appId}/tasks`)).body as { tasks?: Array<{ state: string; ports: number[]; healthCheckResults?: Array<{ alive: boolean }> }> }).tasks ?? [];
        seen = tasks;
        return tasks.find((t) => t.state === 'TASK_RUNNING' && t.healthCheckResults?.[0]?.alive === true);
      },
      `${appId} running and healthy`,
      WAIT_MS,
    ).catch(async (e: Error) => {
      const failure = ((await call('GET', `/v2/apps${appId}?embed=app.lastTaskFailure`)).body as { app?: { lastTaskFailure?: unknown } }).app?.lastTaskFailure;
      const { stdout: stderrs } = await run('sh', ['-c', 'for f in $(find "$0" -type f -name stderr -not -path "*/images/*" | head -4); do echo "== $f"; tail -5 "$f"; done', join(dir, 'data')]).catch(
        () => ({ stdout: '' }),
      );
      throw new Error(`${e.message}; last seen ${JSON.stringify(seen)}; last failure ${JSON.stringify(failure)}; ${stderrs}`);
    });
  }

  test('drover package install nginx: it answers on its port', async () => {
    const r = await call('POST', '/package/install', { packageName: 'nginx' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const task = await runningTask('/nginx');
    const answer = await fetch(`http://127.0.0.1:${task.ports[0]}/`);
    assert.equal(answer.status, 200);
    assert.match(await answer.text(), /Welcome to nginx/);
  });

  test('drover package install redis: it answers PING on its port', async () => {
    const r = await call('POST', '/package/install', { packageName: 'redis' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const task = await runningTask('/redis');
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: task.ports[0] as number }, () => socket.write('PING\r\n'));
      socket.once('data', (d) => {
        resolve(d.toString());
        socket.destroy();
      });
      socket.once('error', reject);
    });
    assert.equal(reply, '+PONG\r\n');
  });

  test('uninstall both: nothing left', async () => {
    for (const name of ['nginx', 'redis']) assert.equal((await call('POST', '/package/uninstall', { packageName: name })).status, 200);
    await eventually(
      async () => ((await call('GET', '/v2/apps')).body as { apps: unknown[] }).apps.length === 0 && ((await call('GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0,
      'no apps, no tasks',
      60_000,
    );
  });
});
