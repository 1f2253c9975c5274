/**
 * The image puller and layer store against real docker-registry processes on loopback: images
 * built offline with umoci from busybox-static and pushed with skopeo, as OCI, as Docker schema2
 * and as a multi-arch index; a token-auth registry (our token server issues the JWTs; the
 * client's challenge flow is what is tested) and an htpasswd one share the plain one's storage.
 * Whiteouts are checked through a real overlayfs mount of the stored layers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBigImage, buildTestImages, pushImage, startRegistry, startTokenServer, type Registry, type TestImages, type TokenServer } from '../devkit/registry.ts';
import { isDroverError } from '../src/errors/errors.ts';
import { LayerStore } from '../src/images/layer-store.ts';
import { Puller } from '../src/images/puller.ts';
import { startCuttingProxy, type CuttingProxy } from './support/cutting-proxy.ts';

let dir: string;
let images: TestImages;
let plain: Registry;
let tokenRegistry: Registry;
let basicRegistry: Registry;
let token: TokenServer;
let proxy: CuttingProxy;
let outside: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-images-'));
  images = await buildTestImages(dir);
  await buildBigImage(images, dir, 'big', 8);
  await buildBigImage(images, dir, 'corrupt', 1);
  plain = await startRegistry({ dir });
  await pushImage(images, 'hello', plain, 'drover/hello:latest');
  await pushImage(images, 'hello', plain, 'drover/hello:v2s2', { format: 'v2s2' });
  await pushImage(images, 'hello-wh', plain, 'drover/hello-wh:latest');
  await pushImage(images, 'multi', plain, 'drover/multi:latest', { all: true });
  await pushImage(images, 'big', plain, 'drover/big:latest');
  await pushImage(images, 'corrupt', plain, 'drover/corrupt:latest');
  await pushImage(images, 'hello', plain, 'drover/zstd:latest', { zstd: true });
  // A hostile layer: a symlink to a host dir and a file written through it, and a path with '..'.
  outside = join(dir, 'outside');
  await mkdir(outside);
  const script = [
    'import io, sys, tarfile',
    'out, target = sys.argv[1], sys.argv[2]',
    'with tarfile.open(out, "w") as t:',
    '    link = tarfile.TarInfo("escape"); link.type = tarfile.SYMTYPE; link.linkname = target; t.addfile(link)',
    '    for name in ("escape/pwned", "../../pwned-dotdot"):',
    '        data = b"owned"; info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))',
  ].join('\n');
  execFileSync('python3', ['-c', script, join(dir, 'hostile.tar'), outside]);
  execFileSync('umoci', ['new', '--image', `${images.layout}:hostile`]);
  execFileSync('umoci', ['raw', 'add-layer', '--image', `${images.layout}:hostile`, join(dir, 'hostile.tar')]);
  await pushImage(images, 'hostile', plain, 'drover/hostile:latest');
  token = await startTokenServer(dir, { alice: 'wonderland' });
  tokenRegistry = await startRegistry({ dir, dataDir: plain.dataDir, auth: { kind: 'token', token } });
  basicRegistry = await startRegistry({ dir, dataDir: plain.dataDir, auth: { kind: 'htpasswd', user: 'bob', password: 'builder' } });
  proxy = await startCuttingProxy(Number(plain.host.split(':')[1]));
});

after(async () => {
  await proxy?.stop();
  await plain?.stop();
  await tokenRegistry?.stop();
  await basicRegistry?.stop();
  await token?.stop();
  await rm(dir, { recursive: true, force: true });
});

let stores = 0;
async function newStore(options: { puller?: Puller; clock?: () => number } = {}): Promise<LayerStore> {
  const work = join(dir, `work-${stores++}`);
  const store = new LayerStore(work, options.puller ?? new Puller(), undefined, options.clock);
  await store.open();
  return store;
}

async function layerNames(store: LayerStore): Promise<string[]> {
  return (await readdir(join(store.root, 'layers'))).sort();
}

function ociManifestDigest(tag: string): string {
  const index = JSON.parse(execFileSync('cat', [join(images.layout, 'index.json')]).toString()) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  return index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!.digest;
}

describe('pulling', () => {
  test('an OCI image: manifest, config and layer verified and stored; the config is read', async () => {
    const store = await newStore();
    const image = await store.pull(`${plain.host}/drover/hello`);
    assert.equal(image.reference, `${plain.host}/drover/hello:latest`);
    assert.equal(image.manifestDigest, ociManifestDigest('hello'));
    assert.deepEqual(image.config.runtime, { env: ['PATH=/bin'], entrypoint: ['/bin/sh'], cmd: ['-c', 'cat /etc/motd'], user: '0:0', workingDir: '/' });
    const [rootfs] = store.layerDirs(image);
    assert.equal(await readFile(join(rootfs!, 'etc', 'motd'), 'utf8'), 'hello from the image\n');
    assert.ok((await stat(join(rootfs!, 'bin', 'busybox'))).mode & 0o111, 'busybox stays executable');
    assert.equal(await readlink(join(rootfs!, 'bin', 'sh')), 'busybox');
    assert.equal(await readlink(join(rootfs!, 'etc', 'localtime')), '/usr/share/zoneinfo/UTC', 'absolute symlinks kept as written');
    // Stored once and listed; a second pull is answered from the store.
    assert.deepEqual(
      (await store.list()).map((i) => i.reference),
      [image.reference],
    );
    assert.deepEqual(await store.pull(`${plain.host}/drover/hello:latest`), image);
  });

  test('a Docker schema2 image of the same content shares its layer: one copy on disk', async () => {
    const store = await newStore();
    // Both at once: one extraction of the shared layer, whichever pull asks first.
    const [oci, docker] = await Promise.all([store.pull(`${plain.host}/drover/hello:latest`), store.pull(`${plain.host}/drover/hello:v2s2`)]);
    assert.notEqual(oci.manifestDigest, docker.manifestDigest, 'two different manifests');
    assert.deepEqual(oci.layers, docker.layers);
    assert.deepEqual(store.layerDirs(oci), store.layerDirs(docker));
    assert.equal((await layerNames(store)).length, 1);
    assert.equal((await store.list()).length, 2);
  });

  test('a multi-arch OCI index: linux/amd64 is chosen here, linux/arm64 for an arm64 agent', async () => {
    const store = await newStore({ puller: new Puller({ platform: { os: 'linux', architecture: 'amd64' } }) });
    const amd64 = await store.pull(`${plain.host}/drover/multi`);
    assert.equal(amd64.manifestDigest, ociManifestDigest('hello'));
    assert.equal(amd64.layers.length, 1);
    const armStore = await newStore({ puller: new Puller({ platform: { os: 'linux', architecture: 'arm64' } }) });
    const arm64 = await armStore.pull(`${plain.host}/drover/multi`);
    assert.equal(arm64.manifestDigest, ociManifestDigest('hello-arm64'));
    const top = armStore.layerDirs(arm64).at(-1)!;
    assert.equal(await readFile(join(top, 'etc', 'arch'), 'utf8'), 'arm64\n');
    const s390 = await newStore({ puller: new Puller({ platform: { os: 'linux', architecture: 's390x' } }) });
    await assert.rejects(s390.pull(`${plain.host}/drover/multi`), (e) => isDroverError(e, 'IMAGE_UNSUPPORTED') && /no manifest for linux\/s390x/.test(e.message));
  });

  test('token auth: the 401 challenge leads to the realm, with the pull secret, for a pull-scoped token', async () => {
    const store = await newStore();
    const secrets = { [tokenRegistry.host]: { username: 'alice', password: 'wonderland' } };
    const before = token.requests.length;
    const image = await store.pull(`${tokenRegistry.host}/drover/hello`, { secrets });
    assert.equal(image.manifestDigest, ociManifestDigest('hello'));
    const asked = token.requests.slice(before);
    assert.ok(asked.length >= 1);
    assert.deepEqual(asked[0], { service: token.service, scope: ['repository:drover/hello:pull'], user: 'alice' });
    // Wrong or missing credentials: the token server refuses, the pull fails naming the image.
    await assert.rejects(store.pull(`${tokenRegistry.host}/drover/hello-wh`, { secrets: { [tokenRegistry.host]: { username: 'alice', password: 'no' } } }), (e) => {
      return isDroverError(e, 'IMAGE_PULL_FAILED') && e.message.includes(`${tokenRegistry.host}/drover/hello-wh`) && /token server .* answered 401/.test(e.message);
    });
    assert.equal((await store.list()).length, 1);
  });

  test('basic auth from a pull secret; without one the pull fails and says so', async () => {
    const store = await newStore();
    await assert.rejects(store.pull(`${basicRegistry.host}/drover/hello`), (e) => isDroverError(e, 'IMAGE_PULL_FAILED') && /requires credentials \(Basic\)/.test(e.message));
    const image = await store.pull(`${basicRegistry.host}/drover/hello`, { secrets: { [basicRegistry.host]: { username: 'bob', password: 'builder' } } });
    assert.equal(image.layers.length, 1);
  });

  test('zstd layers are refused by name before any layer is fetched (Node 20 has no zstd)', async () => {
    const store = await newStore();
    await assert.rejects(store.pull(`${plain.host}/drover/zstd`), (e) => isDroverError(e, 'IMAGE_UNSUPPORTED') && /zstd-compressed/.test(e.message));
    assert.deepEqual(await layerNames(store), []);
  });

  test('an unknown image fails with the registry error', async () => {
    const store = await newStore();
    await assert.rejects(store.pull(`${plain.host}/drover/nothing:here`), (e) => isDroverError(e, 'IMAGE_PULL_FAILED') && /404.*MANIFEST_UNKNOWN/.test(e.message));
  });
});

describe('integrity', () => {
  test('a corrupted blob is refused with a digest mismatch and nothing of it is kept', async () => {
    const store = await newStore();
    const resolved = await new Puller().resolve((await import('../src/images/reference.ts')).parseReference(`${plain.host}/drover/corrupt`));
    const layer = resolved.layers[0]!;
    // Flip one byte in the registry's own storage: same length, other content.
    const file = await open(plain.blobPath(layer.digest), 'r+');
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, 100);
    byte[0] = byte[0]! ^ 0xff;
    await file.write(byte, 0, 1, 100);
    await file.close();
    await assert.rejects(store.pull(`${plain.host}/drover/corrupt`), (e) => isDroverError(e, 'IMAGE_DIGEST_MISMATCH') && e.message.includes(layer.digest));
    assert.deepEqual(await layerNames(store), [], 'no layer, no temp dir');
    assert.deepEqual(await store.list(), []);
    assert.equal(await store.get(`${plain.host}/drover/corrupt`), undefined);
  });

  test('an interrupted blob download leaves no half layer, and a retry succeeds', async () => {
    const store = await newStore();
    const reference = `${proxy.host}/drover/big`;
    // Cut after 2 MB of one answer: only the 8 MB layer is that large.
    proxy.arm(2 * 1024 * 1024);
    await assert.rejects(store.pull(reference), (e) => isDroverError(e, 'IMAGE_PULL_FAILED'));
    assert.equal(proxy.cuts, 1);
    assert.deepEqual(await layerNames(store), []);
    assert.deepEqual(await store.list(), []);
    proxy.disarm();
    const image = await store.pull(reference);
    const [rootfs] = store.layerDirs(image);
    assert.equal((await stat(join(rootfs!, 'data', 'blob'))).size, 8 * 1024 * 1024);
    assert.equal((await layerNames(store)).length, 1);
  });

  test('a hostile layer is refused and writes nothing outside its own directory', async () => {
    const store = await newStore();
    // node-tar will not write through the symlink nor climb with '..'; the layer is refused.
    await assert.rejects(store.pull(`${plain.host}/drover/hostile`), (e) => isDroverError(e, 'IMAGE_UNSUPPORTED') && /unsafe entry/.test(e.message));
    assert.deepEqual(await readdir(outside), []);
    assert.deepEqual(await layerNames(store), []);
    await assert.rejects(lstat(join(dir, 'pwned-dotdot')), { code: 'ENOENT' });
    await assert.rejects(lstat(join(store.root, 'pwned-dotdot')), { code: 'ENOENT' });
    await assert.rejects(lstat(join(store.root, 'layers', 'pwned-dotdot')), { code: 'ENOENT' });
  });

  test('a half-extracted layer left by a crash is swept at open and never used', async () => {
    const store = await newStore();
    await mkdir(join(store.root, 'layers', '.tmp-crashed', 'rootfs'), { recursive: true });
    await store.open();
    assert.deepEqual(await layerNames(store), []);
  });
});

describe('whiteouts', () => {
  test('explicit and opaque whiteouts hide lower-layer files through overlayfs', async () => {
    const store = await newStore();
    const image = await store.pull(`${plain.host}/drover/hello-wh`);
    const layers = store.layerDirs(image);
    assert.equal(layers.length, 3);
    // In the stored layer, .wh.motd became overlayfs' whiteout: a 0/0 character device.
    const whiteout = await lstat(join(layers[1]!, 'etc', 'motd'));
    assert.ok(whiteout.isCharacterDevice());
    assert.equal(whiteout.rdev, 0);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(layers[2]!, 'opaque')]).toString(), 'y');
    const mnt = join(dir, `mnt-${process.pid}`);
    await mkdir(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...layers].reverse().join(':')}`, mnt]);
    try {
      await assert.rejects(lstat(join(mnt, 'etc', 'motd')), { code: 'ENOENT' });
      await assert.rejects(lstat(join(mnt, 'tmp', 'x', 'a')), { code: 'ENOENT' });
      assert.equal(await readFile(join(mnt, 'tmp', 'x', 'b'), 'utf8'), 'b\n');
      // The opaque dir shows only its own layer's entries.
      assert.deepEqual((await readdir(join(mnt, 'opaque'))).sort(), ['new']);
      assert.ok((await stat(join(mnt, 'bin', 'busybox'))).isFile());
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('garbage collection', () => {
  test('GC removes an unused image and never one a task holds; rm of a held image is refused', async () => {
    let now = 1_000_000;
    const store = await newStore({ clock: () => now });
    const held = await store.pull(`${plain.host}/drover/hello-wh`);
    const unused = await store.pull(`${plain.host}/drover/multi`, { secrets: {} });
    const big = await store.pull(`${plain.host}/drover/big`);
    // hello-wh's base layer is multi's (amd64) layer: 3 + 0 + 1 layer dirs.
    assert.equal((await layerNames(store)).length, 4);
    await store.hold(held.reference, 'task-1.framework-a');
    await assert.rejects(store.remove(held.reference), (e) => isDroverError(e, 'CONFLICT'));
    now += 60_000;
    // Every unheld image is older than 1 s: multi and big go, hello-wh stays with all its layers.
    const removed = await store.collect({ maxAgeMs: 1000 });
    assert.deepEqual(removed.sort(), [big.reference, unused.reference].sort());
    assert.deepEqual(
      (await store.list()).map((i) => [i.reference, i.holders]),
      [[held.reference, 1]],
    );
    assert.deepEqual(await layerNames(store), held.layers.map((d) => d.slice(7)).sort());
    // By size: nothing unheld is left, so a zero budget removes nothing either.
    assert.deepEqual(await store.collect({ maxBytes: 0 }), []);
    await store.release('task-1.framework-a');
    assert.deepEqual(await store.collect({ maxBytes: 0 }), [held.reference]);
    assert.deepEqual(await layerNames(store), []);
  });

  test('GC by size removes the least recently used unheld image first', async () => {
    let now = 1_000_000;
    const store = await newStore({ clock: () => now });
    const older = await store.pull(`${plain.host}/drover/big`);
    now += 1000;
    const newer = await store.pull(`${plain.host}/drover/hello`);
    const sizes = Object.fromEntries((await store.list()).map((i) => [i.reference, i.bytes]));
    // A budget that fits hello (~2 MB) but not hello + big (~10 MB): big, the older, goes.
    assert.deepEqual(await store.collect({ maxBytes: sizes[newer.reference]! + 1 }), [older.reference]);
    assert.deepEqual(
      (await store.list()).map((i) => i.reference),
      [newer.reference],
    );
    await store.remove(newer.reference);
    assert.deepEqual(await layerNames(store), []);
    await assert.rejects(store.remove(newer.reference), (e) => isDroverError(e, 'NOT_FOUND'));
  });
});
