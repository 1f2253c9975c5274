import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDroverError } from '../errors/errors.ts';
import { openStore } from '../store/open.ts';
import { createKeyFile, ensureKeyFile, readKeyFile } from './key-file.ts';
import { SECRETS_PREFIX, SecretStore } from './secret-store.ts';

test('values are stored encrypted, read back, listed by folder, and bound to their path', async () => {
  const store = await openStore('memory:');
  const key = randomBytes(32);
  const secrets = new SecretStore(store, key);
  await secrets.create('/dev/db-password', Buffer.from('hunter2-canary'));
  await secrets.create('dev/other', Buffer.from('x'));
  await secrets.create('/prod/db', Buffer.from('y'));
  const raw = (await store.get(`${SECRETS_PREFIX}/dev/db-password`))!.value;
  assert.ok(!raw.includes('hunter2') && !raw.includes(Buffer.from('hunter2-canary').toString('base64')));
  assert.equal((await secrets.get('/dev/db-password'))?.toString(), 'hunter2-canary');
  // Two writes of one value differ (a fresh nonce each).
  await secrets.update('/dev/other', Buffer.from('hunter2-canary'));
  assert.notEqual(JSON.parse((await store.get(`${SECRETS_PREFIX}/dev/other`))!.value).data, JSON.parse(raw).data);
  assert.deepEqual(await secrets.list('/dev'), ['db-password', 'other']);
  assert.deepEqual(await secrets.list('/'), ['dev/db-password', 'dev/other', 'prod/db']);
  // `/de` is not a folder of `/dev/…`.
  assert.deepEqual(await secrets.list('/de'), []);
  // A ciphertext copied to another path does not open there.
  await store.put(`${SECRETS_PREFIX}/prod/db`, raw);
  await assert.rejects(secrets.get('/prod/db'));
  const { values, missing } = await secrets.resolve(['/dev/db-password', '/dev/nope', '/../x']);
  assert.deepEqual([...values.keys()], ['/dev/db-password']);
  assert.deepEqual(missing, ['/dev/nope', '/../x']);
  await store.close();
});

test('paths are bounded: no "..", no empty segments, a charset, a length', async () => {
  const store = await openStore('memory:');
  const secrets = new SecretStore(store, randomBytes(32));
  for (const bad of ['/dev/../x', '/dev//x', '/dev/x/', '/a b', `/${'a'.repeat(600)}`, '', '/']) {
    await assert.rejects(secrets.create(bad, Buffer.from('v')), (e) => isDroverError(e, 'VALIDATION'), bad);
  }
  assert.deepEqual((await store.range('/drover/')).kvs, []);
  await store.close();
});

test('verifyKey: no secrets → fine without a key; secrets → a missing or wrong key refuses', async () => {
  const store = await openStore('memory:');
  await new SecretStore(store, undefined).verifyKey();
  const key = randomBytes(32);
  await new SecretStore(store, key).create('/a', Buffer.from('v'));
  await new SecretStore(store, key).verifyKey();
  await assert.rejects(new SecretStore(store, undefined).verifyKey(), (e) => isDroverError(e, 'SECRETS_KEY') && /no secrets key was given/.test(e.message));
  await assert.rejects(new SecretStore(store, randomBytes(32)).verifyKey(), (e) => isDroverError(e, 'SECRETS_KEY') && /does not open/.test(e.message));
  // Without a key: listed and deleted, never written or read.
  const sealed = new SecretStore(store, undefined);
  assert.deepEqual(await sealed.list('/'), ['a']);
  await assert.rejects(sealed.get('/a'), (e) => isDroverError(e, 'SECRETS_SEALED'));
  await assert.rejects(sealed.create('/b', Buffer.from('v')), (e) => isDroverError(e, 'SECRETS_SEALED'));
  await store.close();
});

test('key files: created 600 once, read back; others-readable or malformed files refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'drover-secrets-key-'));
  try {
    const path = join(dir, 'secrets.key');
    const key = await ensureKeyFile(path);
    assert.equal((await lstat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await ensureKeyFile(path), key);
    await assert.rejects(createKeyFile(path), /EEXIST/);
    const open = join(dir, 'open.key');
    await writeFile(open, await readFile(path), { mode: 0o644 });
    await assert.rejects(readKeyFile(open), /readable by others/);
    const short = join(dir, 'short.key');
    await writeFile(short, 'c2hvcnQ=\n', { mode: 0o600 });
    await assert.rejects(readKeyFile(short), /does not hold a key/);
    await assert.rejects(readKeyFile(join(dir, 'absent.key')), (e) => isDroverError(e, 'SECRETS_KEY'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
