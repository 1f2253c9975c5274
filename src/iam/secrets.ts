/**
 * Shared secrets and passwords, compared in constant time (the CVE-2018-8023 class: Mesos compared
 * an HMAC with `==`, a timing oracle that let an attacker forge executor tokens).
 *
 * - Opaque secrets (the bootstrap admin token, the agent bootstrap token) are stored as their
 *   SHA-256 and compared digest to digest with timingSafeEqual: equal lengths whatever the input.
 * - Passwords are stored as scrypt hashes with a random salt (`scrypt$N$r$p$salt$hash`).
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** Longest password or secret looked at (a bound before hashing anything a caller sent). */
export const MAX_SECRET_LENGTH = 4096;

export function newSecret(prefix: string): string {
  return `${prefix}.${randomBytes(32).toString('base64url')}`;
}

export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time: does `candidate` hash to `digest` (hex SHA-256)? */
export function secretMatches(candidate: string, digest: string, equal: (a: Buffer, b: Buffer) => boolean = timingSafeEqual): boolean {
  // Overlong input is hashed too (a bounded prefix), so no input returns earlier than another.
  const a = createHash('sha256')
    .update(candidate.length > MAX_SECRET_LENGTH ? candidate.slice(0, MAX_SECRET_LENGTH + 1) : candidate)
    .digest();
  const b = Buffer.from(digest, 'hex');
  const same = equal(a, b.length === a.length ? b : Buffer.alloc(a.length));
  return same && b.length === a.length && candidate.length <= MAX_SECRET_LENGTH;
}

const N = 16384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_LENGTH, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (e, key) => (e ? reject(e) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function passwordMatches(password: string, stored: string): Promise<boolean> {
  if (password.length > MAX_SECRET_LENGTH) return false;
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p));
  return key.length === expected.length && timingSafeEqual(key, expected);
}
