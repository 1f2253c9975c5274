import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isDroverError } from '../errors/errors.ts';
import { parseChallenge, parseDockerConfig, registryKey } from './auth.ts';
import { choosePlatform, parseManifest } from './manifest.ts';
import { MAX_REFERENCE_LENGTH, parseReference } from './reference.ts';

const HEX = 'a'.repeat(64);

test('references: Docker Hub defaults, registries with ports, tags and digests', () => {
  assert.deepEqual(parseReference('busybox'), { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', canonical: 'docker.io/library/busybox:latest' });
  assert.equal(parseReference('mesosphere/inky:1.0').canonical, 'docker.io/mesosphere/inky:1.0');
  assert.equal(parseReference('index.docker.io/library/nginx').canonical, 'docker.io/library/nginx:latest');
  assert.deepEqual(parseReference('127.0.0.1:5000/drover/hello'), { registry: '127.0.0.1:5000', repository: 'drover/hello', tag: 'latest', canonical: '127.0.0.1:5000/drover/hello:latest' });
  assert.equal(parseReference('localhost/a/b_c__d-e.f:v1.2-rc_3').canonical, 'localhost/a/b_c__d-e.f:v1.2-rc_3');
  // A digest pins the image: no default tag.
  assert.deepEqual(parseReference(`reg.example.com/app@sha256:${HEX}`), {
    registry: 'reg.example.com',
    repository: 'app',
    digest: `sha256:${HEX}`,
    canonical: `reg.example.com/app@sha256:${HEX}`,
  });
  assert.equal(parseReference(`app:1@sha256:${HEX}`).canonical, `docker.io/library/app:1@sha256:${HEX}`);
});

test('bad references are a DROVER_ERR_IMAGE_REFERENCE (400) naming /image', () => {
  for (const bad of ['', 'Upper', 'a//b', 'a/', '-a', 'a..b', 'a:', 'a:-x', `a:${'t'.repeat(129)}`, 'a@sha256:abc', 'a@md5:x', 'host:99999/a', 'a b', 'x'.repeat(MAX_REFERENCE_LENGTH + 1), 'a/../b']) {
    assert.throws(
      () => parseReference(bad),
      (e) => isDroverError(e, 'IMAGE_REFERENCE') && e.status === 400 && e.details[0]?.path === '/image',
      JSON.stringify(bad),
    );
  }
});

test('any string either parses or is refused with a reference error, and parsing is idempotent on the canonical form', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 600 }), (input) => {
      try {
        const parsed = parseReference(input);
        assert.equal(parseReference(parsed.canonical).canonical, parsed.canonical);
      } catch (e) {
        assert.ok(isDroverError(e, 'IMAGE_REFERENCE'), String(e));
      }
    }),
  );
});

test('WWW-Authenticate challenges: Bearer with quoted params, Basic, and junk', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' },
  });
  assert.deepEqual(parseChallenge('Basic realm="basic-realm"'), { scheme: 'basic', params: { realm: 'basic-realm' } });
  assert.equal(parseChallenge('Negotiate abc'), undefined);
  assert.equal(parseChallenge(undefined), undefined);
  assert.equal(parseChallenge(`Bearer realm="${'x'.repeat(5000)}"`), undefined);
});

test('pull secrets: Docker config.json auths by registry', () => {
  const config = parseDockerConfig(
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('me:pa:ss').toString('base64') },
        'registry.example.com:5000': { username: 'u', password: 'p' },
        'helper.example.com': { identitytoken: 'x' },
      },
    }),
  );
  assert.deepEqual(config, { 'docker.io': { username: 'me', password: 'pa:ss' }, 'registry.example.com:5000': { username: 'u', password: 'p' } });
  assert.equal(registryKey('http://Reg:5000/v2/'), 'reg:5000');
  assert.throws(
    () => parseDockerConfig('{"auths":[]}'),
    (e) => isDroverError(e, 'VALIDATION') && e.details[0]?.path === '/auths',
  );
  assert.throws(
    () => parseDockerConfig('nope'),
    (e) => isDroverError(e, 'VALIDATION'),
  );
});

test('manifests: zstd and unknown layer types are refused by name; the platform choice says what the index had', () => {
  const manifest = (mediaType: string) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'c', digest: `sha256:${HEX}`, size: 1 }, layers: [{ mediaType, digest: `sha256:${HEX}`, size: 1 }] }));
  const zstd = parseManifest(manifest('application/vnd.oci.image.layer.v1.tar+zstd'), 'application/vnd.oci.image.manifest.v1+json', 'img');
  assert.equal(zstd.kind === 'manifest' && zstd.layers[0]?.compression, 'zstd');
  assert.throws(
    () => parseManifest(manifest('application/x-weird'), 'application/vnd.oci.image.manifest.v1+json', 'img'),
    (e) => isDroverError(e, 'IMAGE_UNSUPPORTED') && /x-weird/.test(e.message),
  );
  assert.throws(
    () => parseManifest(Buffer.from('{"schemaVersion":1}'), undefined, 'img'),
    (e) => isDroverError(e, 'IMAGE_UNSUPPORTED'),
  );
  const entries = [{ mediaType: 'm', digest: `sha256:${HEX}`, size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }];
  assert.equal(choosePlatform(entries, { os: 'linux', architecture: 'arm64' }, 'img').digest, `sha256:${HEX}`);
  assert.throws(() => choosePlatform(entries, { os: 'linux', architecture: 'amd64' }, 'img'), /the index has linux\/arm64/);
});
