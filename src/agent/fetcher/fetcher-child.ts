/**
 * The fetcher's child process (started by fetcher-process.ts with an IPC channel). It reads one
 * FetchRequest, becomes the task's user when asked — supplementary groups, then gid, then uid, so
 * nothing of root is left — runs a Fetcher, reports the outcome and exits. Its log lines travel
 * to the agent over the channel. Every module is imported statically, before the switch: the
 * task's user may not be able to read the agent's code.
 */
import { createLogger } from '../../log/index.ts';
import { Fetcher, FetchError, type FetchUri } from './fetcher.ts';

export interface FetchRequest {
  uris: FetchUri[];
  sandbox: string;
  cacheDir: string;
  /** Switch to this identity first (the agent runs as root); absent: stay who we are. */
  identity?: { uid: number; gid: number; groups: number[] };
  timeoutMs?: number;
  maxBytes?: number;
  maxExtractedBytes?: number;
  maxArchiveEntries?: number;
  allowedPaths?: string[];
}

export type FetchReply = { kind: 'log'; line: string } | { kind: 'done' } | { kind: 'failed'; message: string };

function send(reply: FetchReply): Promise<void> {
  return new Promise((resolve) => process.send!(reply, undefined, {}, () => resolve()));
}

async function run(request: FetchRequest): Promise<FetchReply> {
  const { identity } = request;
  if (identity !== undefined) {
    process.setgroups!(identity.groups);
    process.setgid!(identity.gid);
    process.setuid!(identity.uid);
    if (process.getuid!() !== identity.uid || process.geteuid!() !== identity.uid) return { kind: 'failed', message: `the fetcher could not become uid ${identity.uid}` };
  }
  const logger = createLogger({ destination: { write: (line: string) => void send({ kind: 'log', line }) } });
  const fetcher = new Fetcher({ ...request, logger });
  try {
    await fetcher.fetch(request.uris, request.sandbox);
    return { kind: 'done' };
  } catch (err) {
    return { kind: 'failed', message: err instanceof FetchError ? err.message : `The fetcher failed: ${(err as Error).message}` };
  }
}

// A child waiting for its request goes when the agent goes.
process.once('disconnect', () => process.exit(0));
// fetch()'s first call compiles most of undici (~0.4 s on a busy machine); a waiting child does
// it early, on a data: URL that touches no network.
void fetch('data:,').then(
  (r) => r.text(),
  () => undefined,
);

process.once('message', (request: FetchRequest) => {
  run(request)
    .catch((err: unknown) => ({ kind: 'failed' as const, message: `The fetcher failed: ${(err as Error).message}` }))
    .then(send)
    // Explicitly: fetch()'s keep-alive sockets would hold the process for seconds.
    .finally(() => process.exit(0));
});
