/**
 * The cluster CA an agent trusts when it was given only the CA's hash (`--master-ca-hash`): the
 * CA kept from its first join (`<work-dir>/meta/master-ca.pem`) if it still has that hash, else
 * the one a master of the list presents with that hash (src/iam/tls-pin.ts), kept for the next
 * start. A master whose chain has no CA with the hash is refused, and the next is tried after a
 * backoff, until one has it or `signal` aborts.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backoffDelay } from '../clock/backoff.ts';
import type { Logger } from '../log/index.ts';
import { caCertHash, discoverPinnedCa, parseCaHash } from '../iam/tls-pin.ts';

export const MASTER_CA_FILE = 'master-ca.pem';
const RETRY = { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 };

export async function pinnedMasterCa(options: { metaDir: string; masters: readonly string[]; pin: string; logger: Logger; signal?: AbortSignal }): Promise<string> {
  const pin = parseCaHash(options.pin);
  if (pin === undefined) throw new Error(`--master-ca-hash is sha256:<64 hex digits>, not ${options.pin.slice(0, 80)}`);
  const file = join(options.metaDir, MASTER_CA_FILE);
  const kept = await readFile(file, 'utf8').catch(() => undefined);
  if (kept !== undefined && caCertHash(kept) === pin) return kept;
  for (let attempt = 1; ; attempt++) {
    const master = options.masters[(attempt - 1) % options.masters.length]!;
    try {
      const caPem = await discoverPinnedCa(master, pin);
      const temp = `${file}.tmp`;
      await writeFile(temp, caPem, { mode: 0o644 });
      await rename(temp, file);
      options.logger.info({ master, caHash: pin }, 'master-ca-pinned');
      return caPem;
    } catch (err) {
      options.logger.warn({ master, err: (err as Error).message }, 'master-ca-refused');
    }
    if (options.signal?.aborted) throw new Error('stopped before a master presented the pinned CA');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, backoffDelay(RETRY, attempt));
      options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    if (options.signal?.aborted) throw new Error('stopped before a master presented the pinned CA');
  }
}
