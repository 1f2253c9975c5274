/**
 * The agent's UriFetcher: each task's fetch runs in a child process (fetcher-child.ts), as the
 * task's user when the agent is root — as the Mesos fetcher runs as the task's user — so a URI can
 * reach only what that user could read, and the files it writes are that user's. The agent's
 * event loop carries neither the download nor the extraction; a task without URIs starts no child.
 *
 * Starting a child costs ~0.5 s of plain Node (plus ~1.5 s of tsx, without the bundle) on a busy 2-core machine, so
 * after the first fetch one child is kept started and waiting (`spares`): it loads its modules as
 * root, and becomes the task's user only when a request arrives. An agent whose tasks never fetch
 * starts none.
 *
 * Each user has its own cache directory (`<cacheDir>/<uid>`, mode 700): one user's cached copy of
 * a file is never served to another.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../../log/index.ts';
import { resolveTaskUser } from '../containerizer/linux/task-user.ts';
import type { FetchReply, FetchRequest } from './fetcher-child.ts';
import type { FetcherOptions, FetchUri, UriFetcher } from './fetcher.ts';

/**
 * The child runs what the agent runs: the bundle's fetcher-child.mjs when bin/drover.js started
 * the agent from dist/ (it sets `droverBundle`; 026-bundle.md), else the TypeScript source
 * through tsx.
 */
const BUNDLE = (globalThis as { droverBundle?: string }).droverBundle;
const CHILD = BUNDLE === undefined ? fileURLToPath(new URL('./fetcher-child.ts', import.meta.url)) : fileURLToPath(new URL('fetcher-child.mjs', BUNDLE));
const CHILD_NODE_ARGS = BUNDLE === undefined ? ['--import', import.meta.resolve('tsx')] : ['--enable-source-maps'];
/** Enough of stderr to say why a child died. */
const STDERR_TAIL = 2000;

export type FetcherProcessOptions = Omit<FetcherOptions, 'logger'> & {
  logger: Logger;
  /** Children kept started and waiting after the first fetch; default 1. */
  spares?: number;
};

interface Child {
  process: ChildProcess;
  /** The end of its stderr, to say why it died. */
  stderr: string;
  exited: boolean;
}

export class FetcherProcess implements UriFetcher {
  private readonly spares: Child[] = [];
  private closed = false;

  constructor(private readonly options: FetcherProcessOptions) {}

  /** Ends the waiting children (a fetch under way finishes). */
  close(): void {
    this.closed = true;
    for (const child of this.spares.splice(0)) child.process.kill('SIGKILL');
  }

  async fetch(uris: readonly FetchUri[], sandbox: string, user?: string): Promise<void> {
    const { logger, cacheDir, allowedPaths, spares: _spares, ...limits } = this.options;
    const identity = await this.identity(user);
    const uid = identity?.uid ?? process.getuid?.() ?? 0;
    const userCache = join(cacheDir, String(uid));
    // Only the user's own directory is 700: the ones above must stay traversable for every user.
    await mkdir(cacheDir, { recursive: true });
    await mkdir(userCache, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    if (identity !== undefined) {
      // The sandbox is fresh (the supervisor just made it); the task's user writes into it.
      await chown(sandbox, identity.uid, identity.gid);
      await chown(userCache, identity.uid, identity.gid);
    }
    const request: FetchRequest = {
      uris: [...uris],
      sandbox,
      cacheDir: userCache,
      ...limits,
      ...(allowedPaths === undefined ? {} : { allowedPaths: [...allowedPaths] }),
      ...(identity === undefined ? {} : { identity }),
    };
    return this.run(request, logger.child({ sandbox, ...(user === undefined ? {} : { user }) }));
  }

  /** Who the child becomes: the task's user when this agent is root (it can switch), else nobody new. */
  private async identity(user: string | undefined): Promise<FetchRequest['identity']> {
    if (process.getuid?.() !== 0) return undefined;
    let found;
    try {
      found = await resolveTaskUser(user === undefined || user === '' ? 'root' : user);
    } catch (err) {
      throw new Error(`Failed to fetch the task's URIs: ${(err as Error).message}`);
    }
    return { uid: found.uid, gid: found.gid, groups: found.groups ?? [found.gid] };
  }

  private run(request: FetchRequest, logger: Logger): Promise<void> {
    const child = this.take();
    return new Promise<void>((resolve, reject) => {
      // Settled by the child's answer, not its exit: a Node process with tsx takes a while to go.
      child.process.on('message', (reply: FetchReply) => {
        if (reply.kind === 'log') relay(logger, reply.line);
        else if (reply.kind === 'done') resolve();
        else reject(new Error(reply.message));
      });
      const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
        const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
        reject(new Error(`The fetcher died (${how})${child.stderr.trim() === '' ? '' : `: ${child.stderr.trim()}`}`));
      };
      if (child.exited) return settle(child.process.exitCode, child.process.signalCode);
      child.process.on('exit', settle);
      child.process.send(request, (err) => {
        if (err !== null) reject(new Error(`Failed to start the fetcher: ${err.message}`));
      });
    });
  }

  /** A waiting child if there is one (then another is started to wait), else a new one. */
  private take(): Child {
    const child = this.spares.shift() ?? this.start();
    child.process.ref();
    child.process.channel?.ref();
    for (let n = this.spares.length; n < (this.options.spares ?? 1) && !this.closed; n++) {
      const spare = this.start();
      // A waiting child keeps nothing alive; it exits when the agent does (its channel closes).
      spare.process.unref();
      spare.process.channel?.unref();
      spare.process.once('exit', () => {
        const i = this.spares.indexOf(spare);
        if (i >= 0) this.spares.splice(i, 1);
      });
      this.spares.push(spare);
    }
    return child;
  }

  private start(): Child {
    const process_ = fork(CHILD, [], {
      execArgv: CHILD_NODE_ARGS,
      // Nothing of the agent's environment (tokens, secrets) reaches a process the task's user owns.
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', UV_THREADPOOL_SIZE: '8' },
      cwd: '/',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const child: Child = { process: process_, stderr: '', exited: false };
    const stderr = process_.stderr!;
    stderr.setEncoding('utf8').on('data', (text: string) => {
      child.stderr = (child.stderr + text).slice(-STDERR_TAIL);
    });
    (stderr as unknown as { unref?: () => void }).unref?.();
    process_.on('error', (err) => {
      child.stderr += `\n${err.message}`;
    });
    process_.once('exit', () => {
      child.exited = true;
    });
    return child;
  }
}

/** A child's pino line, logged again through the agent's logger (so it carries the agent's fields). */
function relay(logger: Logger, line: string): void {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  const { level, msg, time: _time, pid: _pid, name: _name, hostname: _hostname, ...fields } = parsed;
  const label = pino.levels.labels[Number(level)] as 'info' | 'warn' | 'error' | 'debug' | undefined;
  if (label === undefined || typeof logger[label] !== 'function') return;
  logger[label]({ ...fields, fetcherChild: true }, String(msg));
}
