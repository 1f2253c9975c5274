import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createMemoryStore } from '../store/memory/memory-store.ts';
import { ClusterCa } from './tls-ca.ts';
import { caCertHash, discoverPinnedCa, parseCaHash } from './tls-pin.ts';

let ours: ClusterCa;
let theirs: ClusterCa;
const servers: Server[] = [];

before(async () => {
  ours = await ClusterCa.open(createMemoryStore());
  theirs = await ClusterCa.open(createMemoryStore());
});
after(() => {
  for (const s of servers) s.close();
});

/** An HTTPS server on loopback presenting `chain` (PEM, leaf first) with `keyPem`. */
async function serve(chain: string, keyPem: string): Promise<string> {
  const server = createServer({ cert: chain, key: keyPem }, (_req, res) => res.end('ok'));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('a CA pinned by its hash (--master-ca-hash)', () => {
  test("the hash is kubeadm's form, sha256 over the CA's public key; upper-case hex is taken, anything else refused", () => {
    const hash = caCertHash(ours.certPem);
    assert.match(hash, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(hash, caCertHash(theirs.certPem));
    assert.equal(parseCaHash(hash.toUpperCase().replace('SHA256:', 'sha256:')), hash);
    for (const bad of ['', 'sha256:', 'md5:abcd', `sha256:${'g'.repeat(64)}`, `${hash}00`, hash.slice(7)]) assert.equal(parseCaHash(bad), undefined, bad);
  });

  test('a master presenting its certificate and the pinned CA: the CA is found and returned', async () => {
    const issued = await ours.issueMaster(['127.0.0.1']);
    const url = await serve(`${issued.certPem.trimEnd()}\n${ours.certPem}`, issued.keyPem);
    assert.equal((await discoverPinnedCa(url, caCertHash(ours.certPem))).trim(), ours.certPem.trim());
  });

  test('a master of another CA is refused, and so is one that appends the pinned CA to a chain it did not sign', async () => {
    const other = await theirs.issueMaster(['127.0.0.1']);
    const otherUrl = await serve(`${other.certPem.trimEnd()}\n${theirs.certPem}`, other.keyPem);
    await assert.rejects(discoverPinnedCa(otherUrl, caCertHash(ours.certPem)), /no CA with the pinned hash/);
    // An impostor copies our (public) CA certificate into its chain: our CA did not sign its certificate.
    const impostorUrl = await serve(`${other.certPem.trimEnd()}\n${ours.certPem}`, other.keyPem);
    await assert.rejects(discoverPinnedCa(impostorUrl, caCertHash(ours.certPem)), /no CA with the pinned hash/);
    // Without the CA in the chain there is nothing to pin.
    const bare = await ours.issueMaster(['127.0.0.1']);
    const bareUrl = await serve(bare.certPem, bare.keyPem);
    await assert.rejects(discoverPinnedCa(bareUrl, caCertHash(ours.certPem)), /no CA with the pinned hash/);
  });

  test('only https:// and a well-formed hash', async () => {
    await assert.rejects(discoverPinnedCa('http://127.0.0.1:1', caCertHash(ours.certPem)), /https/);
    await assert.rejects(discoverPinnedCa('https://127.0.0.1:1', 'sha256:nope'), /sha256/);
  });
});
