/**
 * TaskLauncher: the agent's side of launcher.pl, the small Perl process that starts Linux tasks
 * with system calls (see the comment at the top of launcher.pl for the protocol and the steps).
 *
 * Why a separate process: `child_process.spawn` forks the agent — a Node process of 100+ MB —
 * and blocks its event loop until the child has exec'd (~10 ms per launch under load), and the
 * util-linux chain it started (sh → unshare → sh → mount ×3, perl → setpriv → wrapper) cost ten
 * more execs per task. The launcher forks a process of a few MB, and a task is two forks and one
 * exec (the exit-status wrapper) away from its command. The agent only writes a line to a pipe.
 *
 * The launcher is a child subreaper, so each task's namespace init becomes its child and it
 * reports how it ended ("E" lines). If it dies, or the agent stops (`close`), the tasks run on:
 * the containers it watched fall back to polling their pid, as after an agent restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { arch, release } from 'node:os';
import { createInterface } from 'node:readline';
import type { Logger } from '../../../log/index.ts';
import { signalName } from '../exit-status.ts';
import { confineConfig, CONFINE_SUBS } from './confine.ts';

/** confine.pl's subroutines first: launcher.pl calls them in each task's PID 1. */
const SCRIPT = `${CONFINE_SUBS}\n${readFileSync(new URL('./launcher.pl', import.meta.url), 'utf8')}`;

export interface LaunchRequest {
  sandbox: string;
  uid: number;
  gid: number;
  /** Keep root's capabilities, no seccomp filter, kernel files unmasked (task-privileges.ts). */
  privileged: boolean;
  /** Supplementary groups for a non-root user (its primary group is used when empty). */
  groups: readonly number[];
  /** `cgroup.procs` files the task joins before anything else. */
  procsFiles: readonly string[];
  /** A network namespace (CNI) to start in. */
  netns?: string;
  /**
   * A user namespace mapping the task's uids and gids 0…size-1 to hostUid… and hostGid… on the
   * host (`--user-namespaces`); `uid`, `gid` and `groups` are then ids inside it.
   */
  userNamespace?: UserNamespaceRange;
  /**
   * An image's root filesystem (a mounted overlay, src/images/rootfs.ts): the task's root, with the
   * sandbox at /mnt/mesos/sandbox; PID 1 runs `argv` as its child and writes `exitFile` (a path
   * inside the container) itself, as the exit-status wrapper does for host tasks.
   */
  image?: { rootfs: string; workingDir: string; exitFile: string };
  /**
   * Host and sandbox volumes (container-volumes.ts): `source` bound at `target` — inside the
   * image's root with an image, else a path in the sandbox — read-only when asked.
   */
  volumes?: ReadonlyArray<{ source: string; target: string; readOnly: boolean }>;
  /** What PID 1 of the task's namespace execs (with an image: runs as its child). */
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  /** A host file bound read-only over the task's /etc/resolv.conf (the agent's resolver, `--dns`). */
  resolvConf?: string;
}

export interface UserNamespaceRange {
  hostUid: number;
  hostGid: number;
  size: number;
}

export type LauncherExit = { code: number | null; signal: NodeJS.Signals | null };

export interface LaunchedTask {
  /** The namespace init, in the host's pid namespace. */
  pid: number;
  /** Setup is done; the command is about to run. Never rejects (an early exit settles `exited`). */
  ready: Promise<void>;
  /** How the init ended, or undefined once the launcher can no longer tell (then poll the pid). */
  exited: Promise<LauncherExit | undefined>;
}

interface Pending {
  started: (pid: number) => void;
  failed: (err: Error) => void;
  ready: () => void;
  /** "S" and "R" come from different processes: either may arrive first. */
  startedSeen: boolean;
  readySeen: boolean;
}

/** Why the launcher cannot be used here, or undefined when it can. */
export function launcherUnavailable(perl: string | undefined): string | undefined {
  if (perl === undefined) return 'perl is not installed';
  if (confineConfig() === undefined) return `no system call table for ${arch()}`;
  const [major = 0, minor = 0] = release()
    .split('.')
    .map((n) => Number.parseInt(n, 10));
  // mount_setattr(2), for a recursive read-only host view in one call.
  if (major < 5 || (major === 5 && minor < 12)) return `kernel ${release()} predates mount_setattr (5.12)`;
  return undefined;
}

/** Pure: one request line (see launcher.pl). */
export function encodeLaunchRequest(seq: number, req: LaunchRequest): string {
  const list = (items: readonly (string | number)[]): (string | number)[] => [items.length, ...items];
  const fields: (string | number)[] = [
    'L',
    seq,
    // Second, so the launcher finds it without parsing the rest (its child does that).
    req.userNamespace === undefined ? '' : `${req.userNamespace.hostUid}:${req.userNamespace.hostGid}:${req.userNamespace.size}`,
    req.sandbox,
    req.uid,
    req.gid,
    req.privileged ? 1 : 0,
    ...list(req.groups),
    ...list(req.procsFiles),
    req.netns ?? '',
    req.image?.rootfs ?? '',
    req.image?.workingDir ?? '',
    req.image?.exitFile ?? '',
    ...list((req.volumes ?? []).flatMap((v) => [v.source, v.target, v.readOnly ? 1 : 0])),
    ...list(req.argv),
    ...list(Object.entries(req.env).map(([k, v]) => `${k}=${v}`)),
    // Optional and last: a request without it is the line it always was.
    ...(req.resolvConf === undefined ? [] : [req.resolvConf]),
  ];
  return `${fields.map((f) => String(f).replace(/[%\t\n\r\0]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)).join('\t')}\n`;
}

export class TaskLauncher {
  private child: ChildProcess | undefined;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly exits = new Map<number, (exit: LauncherExit | undefined) => void>();
  /** Mount requests in flight (M and U lines): settled by their D line. */
  private readonly mountOps = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();

  constructor(
    private readonly perl: string,
    private readonly logger: Logger,
  ) {}

  launch(req: LaunchRequest): Promise<LaunchedTask> {
    const child = this.running();
    const seq = ++this.seq;
    return new Promise<LaunchedTask>((resolve, reject) => {
      let readyResolve!: () => void;
      const ready = new Promise<void>((r) => (readyResolve = r));
      const pending: Pending = {
        startedSeen: false,
        readySeen: false,
        ready: readyResolve,
        failed: (err) => {
          this.pending.delete(seq);
          this.updateRef();
          reject(err);
        },
        started: (pid) => {
          const exited = new Promise<LauncherExit | undefined>((r) => this.exits.set(pid, r));
          // An init that ends before saying "ready" (a failed setup) must not leave `ready` hanging.
          void exited.then(() => {
            this.pending.delete(seq);
            this.updateRef();
            readyResolve();
          });
          resolve({ pid, ready, exited });
        },
      };
      this.pending.set(seq, pending);
      this.updateRef();
      child.stdin!.write(encodeLaunchRequest(seq, req));
    });
  }

  /** Mounts an overlay at `target` (lower dirs in `options` relative to `cwd`), in the agent's mount namespace. */
  mountOverlay(cwd: string, options: string, target: string): Promise<void> {
    return this.mountOp(['M', cwd, options, target]);
  }

  /**
   * Detaches every mount stacked at `target` lazily; a path that is not a mount is fine. Resolves
   * true: nothing is mounted there any more.
   */
  async unmount(target: string): Promise<boolean> {
    await this.mountOp(['U', target]);
    return true;
  }

  private mountOp(fields: [string, ...string[]]): Promise<void> {
    const child = this.running();
    const seq = ++this.seq;
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        this.mountOps.delete(seq);
        this.updateRef();
      };
      this.mountOps.set(seq, {
        resolve: () => {
          settle();
          resolve();
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      this.updateRef();
      const [op, ...rest] = fields;
      child.stdin!.write(`${[op, seq, ...rest].map((f) => String(f).replace(/[%\t\n\r\0]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)).join('\t')}\n`);
    });
  }

  /** The launcher process, while one runs (it starts with the first launch). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the launcher; running tasks are not touched. */
  close(): void {
    const child = this.child;
    if (child === undefined) return;
    this.lost(new Error('the agent stopped'));
    child.removeAllListeners('exit');
    child.stdin?.end();
    child.unref();
  }

  /**
   * Like a child process handle, the launcher keeps the agent's event loop alive only while it has
   * work: a launch in flight or a task whose end it will report. Idle, it does not hold a
   * process (or a test) open.
   */
  private updateRef(): void {
    const child = this.child;
    if (child === undefined) return;
    const busy = this.pending.size > 0 || this.exits.size > 0 || this.mountOps.size > 0;
    for (const handle of [child, child.stdin, child.stdout, child.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>) {
      if (busy) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  private running(): ChildProcess {
    if (this.child !== undefined) return this.child;
    const args = confineConfig() ?? [];
    // LD_BIND_NOW: every symbol resolved once, here, not again in each forked init that first calls
    // it (the lazy binder's lookups were 2 % of the launcher tree's CPU). Tasks get their own env.
    const child = spawn(this.perl, ['-e', SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LD_BIND_NOW: '1' } });
    this.child = child;
    child.stdin!.on('error', () => {
      // EPIPE after the launcher died: its 'exit' handles the rest.
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: child.stderr! }).on('line', (line) => this.logger.warn({ line }, 'launcher-stderr'));
    child.once('error', (err) => this.logger.warn({ err }, 'launcher-error'));
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.logger.warn({ code, signal }, 'launcher-exited');
      this.lost(new Error(`the task launcher exited (${signal ?? code})`));
    });
    this.logger.info({ pid: child.pid }, 'launcher-started');
    return child;
  }

  private lost(err: Error): void {
    this.child = undefined;
    for (const pending of [...this.pending.values()]) pending.failed(err);
    for (const settle of this.exits.values()) settle(undefined);
    this.exits.clear();
    for (const op of [...this.mountOps.values()]) op.reject(err);
  }

  private onLine(line: string): void {
    const [kind, a = '', b = '', c = ''] = line.split(' ');
    if (kind === 'E') {
      const pid = Number(a);
      const settle = this.exits.get(pid);
      if (settle === undefined) return;
      this.exits.delete(pid);
      const signal = Number(c);
      settle(signal > 0 ? { code: null, signal: signalName(signal) as NodeJS.Signals } : { code: Number(b), signal: null });
      return;
    }
    if (kind === 'D') {
      const op = this.mountOps.get(Number(a));
      if (b === '0') op?.resolve();
      else op?.reject(new Error(line.slice(`D ${a} `.length)));
      return;
    }
    const pending = this.pending.get(Number(a));
    if (pending === undefined) return;
    if (kind === 'S' || kind === 'R') {
      if (kind === 'S') pending.started(Number(b));
      else pending.ready();
      pending[kind === 'S' ? 'startedSeen' : 'readySeen'] = true;
      if (pending.startedSeen && pending.readySeen) this.pending.delete(Number(a));
      this.updateRef();
      return;
    }
    if (kind === 'F') pending.failed(new Error(line.slice(line.indexOf(' ', 2) + 1)));
  }
}
