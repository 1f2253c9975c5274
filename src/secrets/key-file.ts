/**
 * The secret store's key: 32 random bytes, base64 in a file of its own (mode 600), never in the
 * store it protects — a copy of the store (a backup, an etcd snapshot, the SQLite WAL) holds only
 * ciphertext. `drover dev` creates `<data-dir>/secrets.key` at first start; `drover master` takes
 * `--secrets-key-file` (every master of an HA set the same file).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { DroverError } from '../errors/errors.ts';

export const KEY_BYTES = 32;

/** Reads a key file; a clear DROVER_ERR_SECRETS_KEY when it is missing, readable by others, or not a key. */
export async function readKeyFile(path: string): Promise<Buffer> {
  let text: string;
  try {
    const info = await stat(path);
    // As ssh does with private keys: a key others can read is not a secret any more.
    if ((info.mode & 0o077) !== 0) throw new DroverError('SECRETS_KEY', `The secrets key file ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof DroverError) throw e;
    throw new DroverError('SECRETS_KEY', `Cannot read the secrets key file ${path}: ${(e as Error).message}`, { cause: e });
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_BYTES || key.toString('base64') !== text.trim()) {
    throw new DroverError('SECRETS_KEY', `The secrets key file ${path} does not hold a key (expected ${KEY_BYTES} bytes in base64, as 'drover secret keygen' writes)`);
  }
  return key;
}

/** Creates a new key file (mode 600, never overwriting one); returns the key. */
export async function createKeyFile(path: string): Promise<Buffer> {
  const key = randomBytes(KEY_BYTES);
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await handle.writeFile(`${key.toString('base64')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return key;
}

/** `drover dev`: the data dir's key, created at first start. */
export async function ensureKeyFile(path: string): Promise<Buffer> {
  try {
    return await createKeyFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return readKeyFile(path);
  }
}
