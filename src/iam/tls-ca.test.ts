import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { createMemoryStore } from '../store/memory/memory-store.ts';
import { CA_KEY, ClusterCa, issuedBy, newAgentKey } from './tls-ca.ts';
import { agentIdOf, isMasterCertificate } from './tls-identity.ts';

test('the CA is generated once and kept in the store: a second open (restart, HA standby) has the same CA', async () => {
  const store = createMemoryStore();
  try {
    const first = await ClusterCa.open(store);
    const second = await ClusterCa.open(store);
    assert.equal(second.certPem, first.certPem);
    const ca = new X509Certificate(first.certPem);
    assert.equal(ca.ca, true);
    // A certificate the first issued is trusted by what the second holds, and the other way round.
    const master = await second.issueMaster(['localhost', '127.0.0.1']);
    assert.ok(issuedBy(new X509Certificate(master.certPem), first.certPem));
  } finally {
    await store.close();
  }
});

test('with a seal key the CA key is kept encrypted; without it, or with another one, the master does not start', async () => {
  const store = createMemoryStore();
  try {
    const key = randomBytes(32);
    await ClusterCa.open(store, { sealKey: key });
    const stored = (await store.get(CA_KEY))?.value ?? '';
    assert.ok(!stored.includes('PRIVATE KEY'), 'no private key in clear in the store');
    assert.match(stored, /"key":"sealed:/);
    await assert.rejects(ClusterCa.open(store), /encrypted with the secrets key/);
    await assert.rejects(ClusterCa.open(store, { sealKey: randomBytes(32) }), /cannot be decrypted/);
    assert.ok(await ClusterCa.open(store, { sealKey: key }));
  } finally {
    await store.close();
  }
});

test("the master's certificate names its hosts and IPs and the master role", async () => {
  const store = createMemoryStore();
  try {
    const ca = await ClusterCa.open(store);
    const { certPem, keyPem } = await ca.issueMaster(['m1.example', '10.0.0.7']);
    const cert = new X509Certificate(certPem);
    assert.equal(cert.checkHost('m1.example'), 'm1.example');
    assert.equal(cert.checkIP('10.0.0.7'), '10.0.0.7');
    assert.ok(isMasterCertificate(cert));
    assert.equal(agentIdOf(cert), undefined);
    assert.ok(keyPem.includes('BEGIN PRIVATE KEY'));
  } finally {
    await store.close();
  }
});

test("an agent's certificate binds the id the master chose, whatever the CSR asked", async () => {
  const store = createMemoryStore();
  try {
    const ca = await ClusterCa.open(store);
    const { csrPem } = await newAgentKey();
    const cert = new X509Certificate(await ca.signAgentCsr(csrPem, 'agent-a'));
    assert.equal(agentIdOf(cert), 'agent-a');
    assert.equal(isMasterCertificate(cert), false);
    assert.ok(issuedBy(cert, ca.certPem));
    // Not trusted by another cluster's CA.
    const other = await ClusterCa.open(createMemoryStore());
    assert.equal(issuedBy(cert, other.certPem), false);
    // Expired: not valid at a time past its notAfter.
    const expired = new X509Certificate(await ca.signAgentCsr(csrPem, 'agent-a', { notBefore: Date.now() - 3 * 86_400_000, ttlMs: 86_400_000 }));
    assert.equal(issuedBy(expired, ca.certPem), false);
  } finally {
    await store.close();
  }
});

test('bad CSRs and ids are refused with the field and the reason', async () => {
  const store = createMemoryStore();
  try {
    const ca = await ClusterCa.open(store);
    await assert.rejects(ca.signAgentCsr('not a csr', 'agent-a'), (e: Error & { details?: unknown }) => {
      assert.deepEqual((e.details as Array<{ path: string }>)[0]?.path, '/register/csr');
      return true;
    });
    await assert.rejects(ca.signAgentCsr('x'.repeat(100_000), 'agent-a'), /Invalid certificate signing request/);
    // A CSR whose signature does not match its key (the body altered).
    const { csrPem } = await newAgentKey();
    const body = csrPem.split('\n');
    const line = body[3] ?? '';
    body[3] = `${line.slice(0, 10)}${line[10] === 'A' ? 'B' : 'A'}${line.slice(11)}`;
    await assert.rejects(ca.signAgentCsr(body.join('\n'), 'agent-a'), /Invalid certificate signing request/);
    await assert.rejects(ca.signAgentCsr(csrPem, 'a,URI:urn:drover:master'), /cannot be certified/);
  } finally {
    await store.close();
  }
});

test('rotation: the new CA signs agents, the old one the master until finish; both are trusted meanwhile; one rotation at a time', async () => {
  const store = createMemoryStore();
  try {
    const key = randomBytes(32);
    const old = await ClusterCa.open(store, { sealKey: key });
    await assert.rejects(ClusterCa.finishRotation(store, { sealKey: key }), /No CA rotation is under way/);
    const rotating = await ClusterCa.rotate(store, { sealKey: key });
    assert.equal(rotating.rotating, true);
    assert.notEqual(rotating.certPem, old.certPem);
    assert.equal(rotating.servingCertPem, old.certPem);
    assert.equal(rotating.bundlePem, `${rotating.certPem.trimEnd()}\n${old.certPem}`);
    assert.deepEqual(rotating.summary().previous, old.summary().current);
    // Both keys stay sealed in the store.
    const stored = (await store.get(CA_KEY))?.value ?? '';
    assert.ok(!stored.includes('PRIVATE KEY'));
    const { csrPem } = await newAgentKey();
    const agentCert = new X509Certificate(await rotating.signAgentCsr(csrPem, 'a1'));
    assert.ok(issuedBy(agentCert, rotating.certPem) && !issuedBy(agentCert, old.certPem));
    const master = new X509Certificate((await rotating.issueMaster(['localhost'])).certPem);
    assert.ok(issuedBy(master, old.certPem));
    assert.equal(agentCert.issuer, rotating.subject);
    await assert.rejects(ClusterCa.rotate(store, { sealKey: key }), /under way already/);
    // Another master opening the store sees the same rotation.
    assert.equal((await ClusterCa.open(store, { sealKey: key })).bundlePem, rotating.bundlePem);

    const done = await ClusterCa.finishRotation(store, { sealKey: key });
    assert.equal(done.rotating, false);
    assert.equal(done.bundlePem, rotating.certPem);
    assert.ok(issuedBy(new X509Certificate((await done.issueMaster(['localhost'])).certPem), rotating.certPem));
    assert.ok(!(await store.get(CA_KEY))!.value.includes('previous'));
  } finally {
    await store.close();
  }
});
