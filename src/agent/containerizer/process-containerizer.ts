/**
 * ProcessContainerizer: each task is a plain child process, in its own session and process group
 * (so one signal reaches the whole task tree, and the task survives the agent), with the sandbox as
 * cwd and stdout/stderr appended to `<sandbox>/stdout` and `<sandbox>/stderr` through file
 * descriptors (no pipe to the agent that would break when the agent goes away).
 *
 * The process is the exit-status wrapper of exit-status.ts, which runs the command. While this
 * agent is the parent, the child's 'exit' event says when it ended; after a restart it polls the
 * pid (plus start time, so a reused pid is not mistaken for the task). Either way the status comes
 * from the wrapper's exit file, so both paths report the same thing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../../log/index.ts';
import { DroverError } from '../../errors/errors.ts';
import type { ContainerLaunchSpec, ContainerRecord, Containerizer, ExitStatus, RecoveredContainer } from './containerizer.ts';
import { EXIT_FILE, WRAPPER_SCRIPT, exitStatusFromShellCode, readExitFile } from './exit-status.ts';
import { isSameProcessAlive, readBootId, readProcStat, signalGroup } from './proc.ts';

export interface ProcessContainerizerOptions {
  logger: Logger;
  /** How often a reattached (not our child) container is checked for exit. */
  pollIntervalMs?: number;
}

/** What a containerizer variant adds to a launch (see LinuxContainerizer). */
export interface PreparedLaunch {
  /** The program and its arguments; argv[0] is the program. */
  argv: string[];
  /**
   * Starts the task some other way than spawning `argv` from the agent (the Linux task launcher).
   * It opens `<sandbox>/stdout` and `stderr` itself (they exist); the process is not the agent's
   * child, and `exited` undefined means nobody can report its end any more: poll the pid.
   */
  start?: () => Promise<{ pid: number; ready: Promise<void>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> }>;
  /** Extra fields checkpointed with the container (e.g. its cgroup directories). */
  record?: Partial<ContainerRecord>;
  /** Undoes the preparation when the process could not be started. */
  abort?: () => Promise<void>;
  /**
   * The process writes a line to fd 3 once the task's own command is about to run (after any
   * setup), and `launch` resolves only then, so RUNNING means running.
   */
  signalsReady?: boolean;
  /** Runs once ready (or at once, without `signalsReady`), before `launch` resolves. */
  onReady?: () => Promise<void>;
}

interface Watched {
  record: ContainerRecord;
  child?: ChildProcess;
  /** Started by this agent (spawned, or by a launcher that reports its end), not reattached. */
  owned?: boolean;
  ended: boolean;
  /** The exit is known and `finish` is running; `ended` follows. */
  concluding?: boolean;
  exited: Promise<ExitStatus>;
  settle: (status: ExitStatus) => void;
  poll?: NodeJS.Timeout;
}

export class ProcessContainerizer implements Containerizer {
  readonly name: string = 'process';
  private readonly containers = new Map<string, Watched>();
  protected readonly logger: Logger;
  private readonly pollIntervalMs: number;
  private detached = false;
  /** Resolves on detach, so a kill in progress stops waiting for an exit nobody will watch. */
  private readonly detachedSignal: Promise<void>;
  private signalDetached!: () => void;

  constructor(options: ProcessContainerizerOptions) {
    this.logger = options.logger;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.detachedSignal = new Promise((resolve) => (this.signalDetached = resolve));
  }

  async launch(spec: ContainerLaunchSpec): Promise<ContainerRecord> {
    if (this.containers.has(spec.containerId)) {
      throw new DroverError('CONFLICT', `container ${spec.containerId} already exists`);
    }
    // An image task's command depends on the image's config, known once it is pulled (prepare).
    const argv = spec.image === undefined ? commandArgv(spec.command) : [];
    const stdout = await open(join(spec.sandbox, 'stdout'), 'a', 0o644);
    let watched: Watched | undefined;
    let spawnError: Promise<Error> | undefined;
    let prepared: PreparedLaunch | undefined;
    let ready: Promise<void> | undefined;
    try {
      const stderr = await open(join(spec.sandbox, 'stderr'), 'a', 0o644);
      try {
        prepared = await this.prepare(spec, argv);
        if (prepared.start !== undefined) {
          const started = await prepared.start().catch((err: Error) => {
            spawnError = Promise.resolve(err);
            return undefined;
          });
          if (started !== undefined) {
            const record: ContainerRecord = { ...prepared.record, containerId: spec.containerId, pid: started.pid, sandbox: spec.sandbox };
            const w = this.watch(record);
            w.owned = true;
            void started.exited.then((exit) => {
              if (exit === undefined) {
                if (!this.detached) this.schedulePoll(w);
              } else {
                void this.onChildExit(w, exit.code, exit.signal);
              }
            });
            watched = w;
            ready = untilSettled(started.ready, w.exited);
          }
        } else {
          const [program = '/bin/sh', ...args] = prepared.argv;
          const spawned = spawn(program, args, {
            cwd: spec.sandbox,
            env: spec.env,
            detached: true,
            stdio: prepared.signalsReady === true ? ['ignore', stdout.fd, stderr.fd, 'pipe'] : ['ignore', stdout.fd, stderr.fd],
          });
          // Everything up to the first await happens in this tick: spawn reports ENOENT/EACCES and
          // a fast task's exit asynchronously, and neither may slip past unobserved (an 'error'
          // event without a listener would even crash the agent).
          spawnError = new Promise((resolve) => spawned.once('error', resolve));
          spawned.on('error', (err) => this.logger.warn({ containerId: spec.containerId, err }, 'container-process-error'));
          if (spawned.pid !== undefined) {
            const record: ContainerRecord = { ...prepared.record, containerId: spec.containerId, pid: spawned.pid, sandbox: spec.sandbox };
            const w = this.watch(record);
            w.child = spawned;
            w.owned = true;
            spawned.once('exit', (code, signal) => void this.onChildExit(w, code, signal));
            watched = w;
            if (prepared.signalsReady === true) ready = untilReady(spawned.stdio[3] as Readable | null, w.exited);
          }
        }
      } finally {
        await stderr.close();
      }
    } finally {
      await stdout.close();
    }
    if (watched === undefined) {
      await prepared?.abort?.();
      const err = spawnError === undefined ? new Error('spawn returned no process') : await spawnError;
      throw new DroverError('INTERNAL', `could not start the task process: ${err.message}`, { cause: err });
    }
    const { record } = watched;
    const pid = record.pid;
    // Only needed to recognise the process after an agent restart; the exit listener is set.
    const [stat, bootId] = await Promise.all([readProcStat(pid), readBootId()]);
    if (stat !== undefined) record.startTime = stat.startTime;
    if (bootId !== undefined) record.bootId = bootId;
    await ready;
    await prepared?.onReady?.().catch((err: unknown) => this.logger.warn({ containerId: spec.containerId, err }, 'container-ready-step-failed'));
    this.logger.debug({ containerId: spec.containerId, pid }, 'container-launched');
    return record;
  }

  wait(containerId: string): Promise<ExitStatus> {
    const watched = this.containers.get(containerId);
    if (watched === undefined) return Promise.reject(new DroverError('NOT_FOUND', `unknown container ${containerId}`));
    return watched.exited;
  }

  async kill(containerId: string, gracePeriodMs: number): Promise<void> {
    const watched = this.containers.get(containerId);
    if (watched === undefined) throw new DroverError('NOT_FOUND', `unknown container ${containerId}`);
    if (watched.ended) return;
    const { pid, startTime, bootId } = watched.record;
    // A reattached pid is only ours while it is the same process; never signal a stranger's group.
    if (watched.owned !== true && !(await isSameProcessAlive(pid, startTime, bootId))) {
      await Promise.race([watched.exited, this.detachedSignal]);
      return;
    }
    await this.signal(watched.record, 'SIGTERM');
    const endedInGrace = await Promise.race([watched.exited.then(() => true), new Promise<false>((resolve) => setTimeout(resolve, gracePeriodMs, false).unref())]);
    if (!endedInGrace && !watched.ended) {
      this.logger.info({ containerId, pid, gracePeriodMs }, 'container-kill-escalated');
      await this.signal(watched.record, 'SIGKILL');
    }
    await Promise.race([watched.exited, this.detachedSignal]);
  }

  async recover(records: readonly ContainerRecord[]): Promise<RecoveredContainer[]> {
    const results: RecoveredContainer[] = [];
    for (const record of records) {
      const existing = this.containers.get(record.containerId);
      const watched = existing ?? this.watch(record);
      if (existing === undefined && (await isSameProcessAlive(record.pid, record.startTime, record.bootId))) {
        this.schedulePoll(watched);
      } else if (!watched.ended) {
        await this.conclude(watched, (await readExitFile(record.sandbox)) ?? {});
      }
      if (!watched.ended) results.push({ containerId: record.containerId, alive: true });
      else results.push({ containerId: record.containerId, alive: false, status: await watched.exited });
    }
    return results;
  }

  async detach(): Promise<void> {
    this.detached = true;
    this.signalDetached();
    for (const watched of this.containers.values()) {
      // The task keeps running; only this agent's interest in it ends.
      watched.child?.removeAllListeners('exit');
      watched.child?.unref();
      if (watched.poll !== undefined) clearTimeout(watched.poll);
    }
    this.containers.clear();
  }

  private watch(record: ContainerRecord): Watched {
    let settle!: (status: ExitStatus) => void;
    const exited = new Promise<ExitStatus>((resolve) => (settle = resolve));
    const watched: Watched = { record, ended: false, exited, settle };
    this.containers.set(record.containerId, watched);
    return watched;
  }

  /**
   * Hooks for variants (LinuxContainerizer). `prepare` gives the command line to spawn, with the
   * sandbox's stdout/stderr already open; `signal` reaches every process of a live container;
   * `finish` runs once the leader has exited (tidy up, add what only the variant knows).
   */
  /** Plain processes share everything with the agent: the command runs as it is, as the agent's user. */
  async execArgv(_record: ContainerRecord, options: { user?: string; argv: readonly string[] }): Promise<string[]> {
    return [...options.argv];
  }

  protected async prepare(spec: ContainerLaunchSpec, argv: string[]): Promise<PreparedLaunch> {
    if (spec.image !== undefined)
      throw new DroverError('CONFLICT', `the task asks for the image ${spec.image.reference.slice(0, 200)}: container images need the linux containerizer, and this agent runs ${this.name}`);
    return { argv: ['/bin/sh', '-c', WRAPPER_SCRIPT, 'drover-task', join(spec.sandbox, EXIT_FILE), ...argv] };
  }

  protected async signal(record: ContainerRecord, signal: NodeJS.Signals): Promise<void> {
    signalGroup(record.pid, signal);
  }

  protected async finish(_record: ContainerRecord, status: ExitStatus): Promise<ExitStatus> {
    return status;
  }

  private async conclude(watched: Watched, status: ExitStatus): Promise<void> {
    if (watched.ended || watched.concluding === true) return;
    watched.concluding = true;
    let final = status;
    try {
      final = await this.finish(watched.record, status);
    } catch (err) {
      this.logger.warn({ containerId: watched.record.containerId, err }, 'container-finish-failed');
    }
    this.end(watched, final);
  }

  private end(watched: Watched, status: ExitStatus): void {
    if (watched.ended) return;
    watched.ended = true;
    if (watched.poll !== undefined) clearTimeout(watched.poll);
    watched.settle(status);
  }

  private async onChildExit(watched: Watched, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (watched.ended || watched.concluding === true) return;
    // The container ends with its leader: take down anything the task left in its group. The
    // kernel does not reuse a pid while it still names a process group, so this cannot hit a
    // stranger unless the group emptied and its id was recycled in the instant since the exit.
    signalGroup(watched.record.pid, 'SIGKILL');
    const recorded = await readExitFile(watched.record.sandbox);
    const own: ExitStatus = signal !== null ? { signal } : code !== null ? exitStatusFromShellCode(code) : {};
    await this.conclude(watched, recorded ?? own);
  }

  private schedulePoll(watched: Watched): void {
    const check = async (): Promise<void> => {
      if (watched.ended || this.detached) return;
      const { pid, startTime, bootId, sandbox } = watched.record;
      if (await isSameProcessAlive(pid, startTime, bootId)) {
        watched.poll = setTimeout(() => void check(), this.pollIntervalMs);
        return;
      }
      await this.conclude(watched, (await readExitFile(sandbox)) ?? {});
    };
    // Referenced, like a child process handle: a watched container is pending work. `detach`
    // clears it.
    watched.poll = setTimeout(() => void check(), this.pollIntervalMs);
  }
}

/** `ready`, or the end of the process, or a minute, whichever comes first. */
function untilSettled(ready: Promise<void>, exited: Promise<ExitStatus>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 60_000);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    void ready.then(done);
    void exited.then(done);
  });
}

/**
 * Resolves at the first byte on the readiness pipe, or when the process ends first (a failed
 * setup: `wait` reports it), or after a minute of silence, and closes our end of the pipe.
 */
function untilReady(pipe: Readable | null, exited: Promise<ExitStatus>): Promise<void> {
  if (pipe === null) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pipe.destroy();
      resolve();
    };
    const timer = setTimeout(done, 60_000);
    timer.unref();
    pipe.once('data', done).once('end', done).once('error', done);
    void exited.then(done);
  });
}

/** The argv the wrapper runs: `sh -c value`, or in exec form the program and its arguments. */
export function commandArgv(command: ContainerLaunchSpec['command']): string[] {
  const value = command.value;
  if (value === undefined || value === '') {
    throw new DroverError('VALIDATION', 'the task has no command to run (command.value is empty)');
  }
  if (command.shell === false) return [value, ...(command.arguments ?? []).slice(1)];
  return ['/bin/sh', '-c', value];
}
