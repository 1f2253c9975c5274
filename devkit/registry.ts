/**
 * Real container registries and offline test images for the image tests and benchmarks.
 *
 * - `buildTestImages(dir)` builds small images from the host's busybox-static with umoci, into an
 *   OCI layout (`<dir>/oci`): `hello` (one layer), `hello-wh` (a second layer with explicit
 *   whiteouts and an opaque directory), `hello-arm64` (the same with architecture arm64 and a
 *   marker file) and `multi` (an OCI index of hello for linux/amd64 and hello-arm64 for linux/arm64).
 * - `startRegistry()` runs Debian's `docker-registry` (CNCF distribution) on a free loopback port:
 *   anonymous, htpasswd basic auth, or token auth against a token server of ours
 *   (`startTokenServer`, which is not the thing under test: the client's challenge flow is).
 *   Several registries may share one storage dir, so images pushed through a plain one are
 *   served by an authenticated one without teaching skopeo each auth scheme.
 * - `pushImage()` copies a tag of the layout into a registry with skopeo (OCI or Docker schema2).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './etcd.ts';

const run = promisify(execFile);
const BUSYBOX = '/bin/busybox';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function sh(cmd: string, args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr ?? e.message}`);
  }
}

export interface TestImages {
  /** The OCI layout dir (`oci:<layout>:<tag>` for skopeo). */
  readonly layout: string;
  readonly tags: readonly string[];
}

/** Builds the test images (see the file comment) into `<dir>/oci`. Needs umoci and busybox-static. */
export async function buildTestImages(dir: string): Promise<TestImages> {
  const layout = join(dir, 'oci');
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await mkdir(join(rootfs, 'tmp', 'x'), { recursive: true });
  await mkdir(join(rootfs, 'opaque', 'sub'), { recursive: true });
  await copyFile(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  await symlink('busybox', join(rootfs, 'bin', 'sh'));
  // Absolute symlinks point into the container's root, never the host's: they must stay as written.
  await symlink('/usr/share/zoneinfo/UTC', join(rootfs, 'etc', 'localtime'));
  await writeFile(join(rootfs, 'etc', 'motd'), 'hello from the image\n');
  await writeFile(join(rootfs, 'tmp', 'x', 'a'), 'a\n');
  await writeFile(join(rootfs, 'opaque', 'old'), 'old\n');
  await writeFile(join(rootfs, 'opaque', 'sub', 'deep'), 'deep\n');
  await sh('umoci', ['init', '--layout', layout]);
  await sh('umoci', ['new', '--image', `${layout}:hello`]);
  await sh('umoci', ['insert', '--rootless', '--image', `${layout}:hello`, rootfs, '/']);
  const config = ['--config.env', 'PATH=/bin', '--config.workingdir', '/', '--config.user', '0:0'];
  await sh('umoci', ['config', '--image', `${layout}:hello`, '--config.entrypoint', '/bin/sh', '--config.cmd', '-c', '--config.cmd', 'cat /etc/motd', ...config]);

  // hello-wh: a second layer that removes etc/motd and tmp/x/a (explicit whiteouts, written by
  // umoci), adds tmp/x/b, and makes /opaque opaque (.wh..wh..opq, written by hand: umoci only
  // emits explicit whiteouts) with one new file in it.
  const bundle = join(dir, 'bundle');
  await sh('umoci', ['unpack', '--rootless', '--image', `${layout}:hello`, bundle]);
  await rm(join(bundle, 'rootfs', 'etc', 'motd'));
  await rm(join(bundle, 'rootfs', 'tmp', 'x', 'a'));
  await writeFile(join(bundle, 'rootfs', 'tmp', 'x', 'b'), 'b\n');
  await sh('umoci', ['repack', '--image', `${layout}:hello-wh`, bundle]);
  const opaque = join(dir, 'opaque-layer');
  await mkdir(join(opaque, 'opaque'), { recursive: true });
  await writeFile(join(opaque, 'opaque', '.wh..wh..opq'), '');
  await writeFile(join(opaque, 'opaque', 'new'), 'new\n');
  await sh('tar', ['--owner=0', '--group=0', '-C', opaque, '-cf', join(dir, 'opaque.tar'), 'opaque']);
  await sh('umoci', ['raw', 'add-layer', '--image', `${layout}:hello-wh`, join(dir, 'opaque.tar')]);

  // hello-arm64: hello plus /etc/arch, marked linux/arm64, so a test can tell which one it got.
  await sh('umoci', ['unpack', '--rootless', '--image', `${layout}:hello`, join(dir, 'bundle-arm')]);
  await writeFile(join(dir, 'bundle-arm', 'rootfs', 'etc', 'arch'), 'arm64\n');
  await sh('umoci', ['repack', '--image', `${layout}:hello-arm64`, join(dir, 'bundle-arm')]);
  await sh('umoci', ['config', '--image', `${layout}:hello-arm64`, '--architecture', 'arm64']);

  await writeIndex(layout, 'multi', [
    { tag: 'hello-arm64', platform: { os: 'linux', architecture: 'arm64' } },
    { tag: 'hello', platform: { os: 'linux', architecture: 'amd64' } },
  ]);
  return { layout, tags: ['hello', 'hello-wh', 'hello-arm64', 'multi'] };
}

interface LayoutIndex {
  schemaVersion: 2;
  manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: unknown }[];
}

/** Adds an OCI image index over existing tags of the layout, tagged `tag`. */
async function writeIndex(layout: string, tag: string, entries: { tag: string; platform: { os: string; architecture: string } }[]): Promise<void> {
  const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as LayoutIndex;
  const manifests = entries.map(({ tag: t, platform }) => {
    const found = top.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === t);
    if (found === undefined) throw new Error(`no tag ${t} in ${layout}`);
    return { mediaType: found.mediaType, digest: found.digest, size: found.size, platform };
  });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  const hex = createHash('sha256').update(index).digest('hex');
  await writeFile(join(layout, 'blobs', 'sha256', hex), index);
  top.manifests.push({
    mediaType: 'application/vnd.oci.image.index.v1+json',
    digest: `sha256:${hex}`,
    size: index.length,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  await writeFile(join(layout, 'index.json'), JSON.stringify(top));
}

/**
 * A random-content image of about `megabytes` MB (incompressible, so the gzip layer is that big
 * too) in its own tag: for pull benchmarks and interrupted-pull tests.
 */
export async function buildBigImage(images: TestImages, dir: string, tag: string, megabytes: number): Promise<void> {
  const rootfs = join(dir, `big-${tag}`);
  await mkdir(join(rootfs, 'data'), { recursive: true });
  const chunk = 4 * 1024 * 1024;
  const parts: Buffer[] = [];
  for (let left = megabytes * 1024 * 1024; left > 0; left -= chunk) parts.push(randomBytes(Math.min(chunk, left)));
  await writeFile(join(rootfs, 'data', 'blob'), Buffer.concat(parts));
  await sh('umoci', ['new', '--image', `${images.layout}:${tag}`]);
  await sh('umoci', ['insert', '--rootless', '--image', `${images.layout}:${tag}`, rootfs, '/']);
}

export type RegistryAuth = { kind: 'none' } | { kind: 'htpasswd'; user: string; password: string } | { kind: 'token'; token: TokenServer };

export interface Registry {
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  readonly host: string;
  readonly url: string;
  /** The storage root (`storage.filesystem.rootdirectory`). */
  readonly dataDir: string;
  /** Where a blob's bytes live on disk (to corrupt it in a test). */
  blobPath(digest: string): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Where the config (and, unless `dataDir` is given, the storage) goes. */
  dir: string;
  auth?: RegistryAuth;
  /** Share another registry's storage. */
  dataDir?: string;
}

export async function startRegistry(options: RegistryOptions): Promise<Registry> {
  const port = await freePort();
  const id = randomUUID().slice(0, 8);
  const dir = join(options.dir, `registry-${id}`);
  const dataDir = options.dataDir ?? join(dir, 'data');
  await mkdir(dir, { recursive: true });
  await mkdir(dataDir, { recursive: true });
  const auth = options.auth ?? { kind: 'none' };
  let authYaml = '';
  if (auth.kind === 'htpasswd') {
    // distribution accepts only bcrypt; Python's crypt (libxcrypt) makes one, cost 4 so the
    // registry's check per request stays cheap.
    const hash = (await sh('/usr/bin/python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', auth.password])).trim();
    await writeFile(join(dir, 'htpasswd'), `${auth.user}:${hash}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: drover-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth.kind === 'token') {
    authYaml = `auth:\n  token:\n    realm: ${auth.token.url}/token\n    service: ${auth.token.service}\n    issuer: ${auth.token.issuer}\n    rootcertbundle: ${auth.token.certPath}\n`;
  }
  const config = `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dataDir}\n  delete:\n    enabled: true\n  redirect:\n    disable: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authYaml}`;
  await writeFile(join(dir, 'config.yml'), config);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${tail}`);
    try {
      await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`docker-registry did not answer on ${url} within 60 s: ${tail}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    dataDir,
    blobPath: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return join(dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    },
  };
}

/** Copies `oci:<layout>:<tag>` to `<registry>/<repository>` (a plain registry), as OCI or Docker schema2; `all` keeps an index. */
export async function pushImage(images: TestImages, tag: string, registry: Registry, repository: string, options: { format?: 'oci' | 'v2s2'; all?: boolean; zstd?: boolean } = {}): Promise<void> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false'];
  let source = `oci:${images.layout}:${tag}`;
  if (options.zstd === true) {
    // Recompressed into a layout of its own first: pushed directly, skopeo reuses the registry's
    // gzip blob of the same content instead of recompressing.
    const zstdLayout = `${images.layout}-zstd`;
    await sh('skopeo', ['copy', '--quiet', '--dest-compress-format', 'zstd', '--dest-compress', source, `oci:${zstdLayout}:${tag}`]);
    source = `oci:${zstdLayout}:${tag}`;
  }
  if (options.format === 'v2s2') args.push('--format', 'v2s2');
  if (options.all === true) args.push('--all');
  await sh('skopeo', [...args, source, `docker://${registry.host}/${repository}`]);
}

export interface TokenRequest {
  service: string | null;
  scope: string[];
  /** The user of the Basic credentials sent to the realm, if any. */
  user: string | null;
}

export interface TokenServer {
  readonly url: string;
  readonly service: string;
  readonly issuer: string;
  readonly certPath: string;
  /** Every token request so far. */
  readonly requests: TokenRequest[];
  stop(): Promise<void>;
}

/**
 * A token server for distribution's `auth.token`: answers `GET /token?service=&scope=` with an
 * ES256 JWT carrying an x5c chain of a self-signed certificate (the registry's rootcertbundle).
 * With `users`, Basic credentials are required and checked; every requested action is granted.
 */
export async function startTokenServer(dir: string, users?: Record<string, string>): Promise<TokenServer> {
  const keyPath = join(dir, `token-${randomUUID().slice(0, 8)}.key`);
  const certPath = `${keyPath}.crt`;
  await sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=drover-test-token']);
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = Buffer.from((await readFile(certPath, 'utf8')).replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64');
  const service = 'drover-test-registry';
  const issuer = 'drover-test-issuer';
  const requests: TokenRequest[] = [];
  const server: Server = createServer((request: IncomingMessage, response) => {
    const query = new URL(request.url ?? '/', 'http://x').searchParams;
    const basic = /^Basic (.+)$/i.exec(request.headers.authorization ?? '');
    const [user, password] = basic?.[1] ? Buffer.from(basic[1], 'base64').toString().split(':', 2) : [null, null];
    requests.push({ service: query.get('service'), scope: query.getAll('scope'), user: user ?? null });
    if (users !== undefined && (user == null || users[user] !== password)) {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const access = query.getAll('scope').map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: query.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${signature.toString('base64url')}`;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    service,
    issuer,
    certPath,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
