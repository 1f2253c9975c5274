/**
 * Root filesystems from stored images: overlayfs of the shared layers plus a per-container upper
 * dir in the sandbox, and the image config (Entrypoint, Cmd, Env, WorkingDir, User) turned into
 * what runs. The process is started the way a task's namespace would be (new mount and pid
 * namespaces, the sandbox bound at /mnt/mesos/sandbox, /proc, chroot into the rootfs) with
 * util-linux, standing in for the launcher hook that comes next.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { isDroverError } from '../src/errors/errors.ts';
import { LayerStore } from '../src/images/layer-store.ts';
import { Puller } from '../src/images/puller.ts';
import { RootfsProvisioner } from '../src/images/rootfs.ts';
import { launchPlan, resolveImageUser, SANDBOX_IN_CONTAINER } from '../src/images/runtime.ts';

const run = promisify(execFile);

let dir: string;
let registry: Registry;
let store: LayerStore;
let provisioner: RootfsProvisioner;
let hello: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-rootfs-'));
  const images = await buildTestImages(dir);
  registry = await startRegistry({ dir });
  await pushImage(images, 'hello', registry, 'drover/hello:latest');
  await pushImage(images, 'hello-wh', registry, 'drover/hello-wh:latest');
  store = new LayerStore(join(dir, 'work'), new Puller());
  await store.open();
  provisioner = new RootfsProvisioner(join(dir, 'work'), store);
  hello = (await store.pull(`${registry.host}/drover/hello`)).reference;
  await store.pull(`${registry.host}/drover/hello-wh`);
});

after(async () => {
  await provisioner?.recover(new Set());
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `argv` inside the rootfs as a task's namespace would: private mounts, new pid ns, sandbox bound in. */
async function runIn(rootfs: string, sandbox: string, plan: { argv: string[]; env: Record<string, string>; workingDir: string }): Promise<string> {
  const script = ['set -e', `mount --bind "$SANDBOX" "$ROOTFS${SANDBOX_IN_CONTAINER}"`, 'mount -t proc proc "$ROOTFS/proc"', 'exec chroot "$ROOTFS" /bin/busybox env -i "$@"'].join('\n');
  const env = Object.entries(plan.env).map(([k, v]) => `${k}=${v}`);
  // busybox env -i cannot chdir: the working directory is entered by a shell of the image.
  const inner = ['/bin/sh', '-c', 'cd "$0" && exec "$@"', plan.workingDir, ...plan.argv];
  const { stdout } = await run('unshare', ['--mount', '--propagation', 'private', '--pid', '--fork', 'sh', '-c', script, 'sh', ...env, ...inner], {
    env: { ...process.env, ROOTFS: rootfs, SANDBOX: sandbox },
    timeout: 60_000,
  });
  return stdout;
}

test('the image runs in its own rootfs: Entrypoint + Cmd, Env, WorkingDir, sandbox at /mnt/mesos/sandbox', async () => {
  const sandbox = join(dir, 'sandbox-1');
  await mkdir(sandbox);
  await writeFile(join(sandbox, 'input'), 'from the sandbox\n');
  const rootfs = await provisioner.provision('c1', hello, sandbox);
  const image = rootfs.image.config.runtime;
  // No command of its own: the image's Entrypoint and Cmd (`/bin/sh -c 'cat /etc/motd'`).
  assert.equal(await runIn(rootfs.rootfs, sandbox, launchPlan(image, { shell: false })), 'hello from the image\n');
  // A shell command: Entrypoint and Cmd ignored, the image's Env (PATH=/bin) and the task's env both set.
  const shell = launchPlan(image, { shell: true, value: 'echo "$PATH $GREETING $MESOS_SANDBOX $(pwd)"; cat $MESOS_SANDBOX/input; echo written > /etc/new', env: { GREETING: 'hi' } });
  assert.equal(await runIn(rootfs.rootfs, sandbox, shell), `/bin hi ${SANDBOX_IN_CONTAINER} /\nfrom the sandbox\n`);
  // Writes land in the container's upper dir in the sandbox, never in the shared layer.
  assert.equal(await readFile(join(sandbox, '.rootfs', 'upper', 'etc', 'new'), 'utf8'), 'written\n');
  for (const layer of store.layerDirs(rootfs.image)) await assert.rejects(lstat(join(layer, 'etc', 'new')), { code: 'ENOENT' });
  assert.equal((await stat(join(sandbox, '.rootfs'))).mode & 0o777, 0o700);
  // Held while provisioned: neither rm nor GC takes it.
  await assert.rejects(store.remove(hello), (e) => isDroverError(e, 'CONFLICT'));
  assert.deepEqual(await store.collect({ maxAgeMs: -1 }), [`${registry.host}/drover/hello-wh:latest`]);
  await provisioner.destroy('c1');
  await assert.rejects(lstat(rootfs.rootfs), { code: 'ENOENT' });
  // Released: the image can go now.
  await store.remove(hello);
  hello = (await store.pull(`${registry.host}/drover/hello`)).reference;
});

test('two containers of one image share the layers and not their writes', async () => {
  const sandboxes = [join(dir, 'sandbox-a'), join(dir, 'sandbox-b')];
  for (const s of sandboxes) await mkdir(s);
  const [a, b] = await Promise.all([provisioner.provision('ca', hello, sandboxes[0]!), provisioner.provision('cb', hello, sandboxes[1]!)]);
  const write = launchPlan(a!.image.config.runtime, { shell: true, value: 'echo $0 > /etc/mine; cat /etc/mine' });
  assert.equal(await runIn(a!.rootfs, sandboxes[0]!, { ...write, argv: [...write.argv, 'a'] }), 'a\n');
  assert.equal(
    await runIn(b!.rootfs, sandboxes[1]!, launchPlan(b!.image.config.runtime, { shell: true, value: 'cat /etc/mine 2>&1 || echo none' })),
    "cat: can't open '/etc/mine': No such file or directory\nnone\n",
  );
  // hello-wh went in the first test's GC: what is left is hello's one layer, mounted by both.
  assert.equal((await readdir(join(store.root, 'layers'))).length, 1);
  assert.deepEqual(
    (await store.list()).filter((i) => i.reference === hello).map((i) => i.holders),
    [2],
  );
  // After a crash nothing names these containers any more: recover unmounts and releases both.
  assert.deepEqual((await provisioner.recover(new Set())).sort(), ['ca', 'cb']);
  assert.deepEqual(
    (await store.list()).filter((i) => i.reference === hello).map((i) => i.holders),
    [0],
  );
});

test('the image User resolves inside the image; launch plans follow Mesos’ table', async () => {
  const root = join(dir, 'fake-root');
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nweb:x:1001:1002::/home/web:/bin/sh\n');
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nstaff:x:50:\n');
  assert.deepEqual(await resolveImageUser(root, 'web'), { uid: 1001, gid: 1002 });
  assert.deepEqual(await resolveImageUser(root, 'web:staff'), { uid: 1001, gid: 50 });
  assert.deepEqual(await resolveImageUser(root, '1001'), { uid: 1001, gid: 1002 });
  assert.deepEqual(await resolveImageUser(root, '7:8'), { uid: 7, gid: 8 });
  await assert.rejects(resolveImageUser(root, 'nobody-here'), /not in its \/etc\/passwd/);
  const image = { env: ['A=1', 'B=2'], entrypoint: ['/ep', 'x'], cmd: ['c1', 'c2'] };
  assert.deepEqual(launchPlan(image, { shell: false }).argv, ['/ep', 'x', 'c1', 'c2']);
  assert.deepEqual(launchPlan(image, { shell: false, arguments: ['y'] }).argv, ['/ep', 'x', 'y']);
  assert.deepEqual(launchPlan(image, { shell: false, value: '/bin/v', arguments: ['y'] }).argv, ['/bin/v', 'y']);
  assert.deepEqual(launchPlan({ env: [], cmd: ['/c', 'd'] }, { shell: false, arguments: ['y'] }).argv, ['/c', 'y']);
  assert.deepEqual(launchPlan(image, { shell: true, value: 'echo' }).argv, ['/bin/sh', '-c', 'echo']);
  assert.deepEqual(launchPlan(image, { shell: false, env: { B: 'task' } }).env, { A: '1', B: 'task', MESOS_SANDBOX: SANDBOX_IN_CONTAINER });
  assert.throws(
    () => launchPlan({ env: [] }, { shell: false }),
    (e) => isDroverError(e, 'VALIDATION'),
  );
  assert.throws(
    () => launchPlan(image, { shell: true }),
    (e) => isDroverError(e, 'VALIDATION'),
  );
});
