import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timingSafeEqual } from 'node:crypto';
import { hashPassword, MAX_SECRET_LENGTH, newSecret, passwordMatches, secretDigest, secretMatches } from './secrets.ts';

test('a secret matches its digest; any other candidate does not', () => {
  const secret = newSecret('drover-admin');
  const digest = secretDigest(secret);
  assert.equal(secretMatches(secret, digest), true);
  for (const other of ['', 'x', secret.slice(0, -1), `${secret}x`, secret.toUpperCase(), 'a'.repeat(MAX_SECRET_LENGTH + 10)]) assert.equal(secretMatches(other, digest), false, other.slice(0, 20));
});

test('the comparison is constant-time: every candidate, right or wrong, long or short, is one timingSafeEqual of two 32-byte digests (CVE-2018-8023)', () => {
  const digest = secretDigest(newSecret('drover-agent'));
  const calls: Array<[number, number]> = [];
  const recording = (a: Buffer, b: Buffer): boolean => {
    calls.push([a.length, b.length]);
    return timingSafeEqual(a, b);
  };
  const candidates = ['', 'a', 'drover-agent.', 'x'.repeat(100), 'y'.repeat(MAX_SECRET_LENGTH * 2)];
  for (const c of candidates) secretMatches(c, digest, recording);
  // A digest that is not even the right length still costs one full-length comparison.
  secretMatches('a', 'abcd', recording);
  assert.deepEqual(
    calls,
    Array.from({ length: candidates.length + 1 }, () => [32, 32]),
  );
});

test('passwords: scrypt with a salt; the same password hashes differently each time and verifies', async () => {
  const one = await hashPassword('correct horse');
  const two = await hashPassword('correct horse');
  assert.notEqual(one, two);
  assert.match(one, /^scrypt\$16384\$8\$1\$/);
  assert.equal(await passwordMatches('correct horse', one), true);
  assert.equal(await passwordMatches('correct horsf', one), false);
  assert.equal(await passwordMatches('correct horse', 'garbage'), false);
});
