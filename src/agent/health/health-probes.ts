/**
 * The three probes, each one attempt bounded by a timeout; they resolve with a ProbeResult and
 * never reject. HTTP and TCP go to 127.0.0.1 for tasks on the host network, and to the task's
 * address on its first CNI network otherwise (the agent reaches it over the network's bridge).
 */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { HealthProbe } from './health-check-spec.ts';
import type { ProbeResult } from './health-state.ts';

export interface ProbeContext {
  /** The task's sandbox: COMMAND checks run there. */
  sandbox: string;
  /** The task's environment; the check's own variables are laid over it. */
  env: Record<string, string>;
  timeoutMs: number;
  /**
   * The command line that runs a COMMAND check's argv inside the task — its namespaces, cgroups,
   * user, capabilities and seccomp filter (the containerizer's execArgv, as `task exec`). A check
   * is the app's code: on the agent's host as root it would undo every restriction the task has.
   */
  commandArgv?: (argv: string[]) => Promise<string[]>;
  /** Where HTTP and TCP checks connect: the task's address on a CNI network; default 127.0.0.1. */
  host?: string;
}

export type ProbeRunner = (probe: HealthProbe, context: ProbeContext) => Promise<ProbeResult>;

const HOST = '127.0.0.1';

export const runProbe: ProbeRunner = (probe, context) => {
  switch (probe.type) {
    case 'HTTP':
      return httpProbe(probe, context.timeoutMs, context.host ?? HOST);
    case 'TCP':
      return tcpProbe(probe.port, context.timeoutMs, context.host ?? HOST);
    case 'COMMAND':
      return commandProbe(probe, context);
  }
};

type Finish = (ok: boolean, message?: string) => void;

/**
 * One probe attempt: the timer is armed before any I/O starts, the first outcome wins, and the
 * cleanups (close the socket, kill the command) run exactly once, whatever ended it.
 */
function attempt(resolve: (result: ProbeResult) => void, timeoutMs: number, timeoutMessage: string): { finish: Finish; onEnd(cleanup: () => void): void } {
  const started = Date.now();
  const cleanups: Array<() => void> = [];
  let done = false;
  const finish: Finish = (ok, message) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    for (const cleanup of cleanups) {
      try {
        cleanup();
      } catch {
        // Cleanup is best effort; the verdict stands.
      }
    }
    resolve({ ok, durationMs: Date.now() - started, ...(message === undefined ? {} : { message }) });
  };
  const timer = setTimeout(() => finish(false, timeoutMessage), timeoutMs);
  return { finish, onEnd: (cleanup) => cleanups.push(cleanup) };
}

function httpProbe(probe: Extract<HealthProbe, { type: 'HTTP' }>, timeoutMs: number, host: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const { finish, onEnd } = attempt(resolve, timeoutMs, `no answer within ${timeoutMs} ms`);
    const request = probe.scheme === 'https' ? httpsRequest : httpRequest;
    // Like Mesos' `curl -k`: a task's self-signed certificate is not the check's business.
    const req = request({ host, port: probe.port, path: probe.path, method: 'GET', agent: false, rejectUnauthorized: false, headers: { 'user-agent': 'drover-health-check' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const ok = probe.statuses.length > 0 ? probe.statuses.includes(status) : status >= 200 && status < 400;
      finish(ok, ok ? undefined : `status ${status}`);
    });
    onEnd(() => req.destroy());
    req.on('error', (err) => finish(false, err.message));
    req.end();
  });
}

function tcpProbe(port: number, timeoutMs: number, host: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const { finish, onEnd } = attempt(resolve, timeoutMs, `no connection within ${timeoutMs} ms`);
    const socket = connect({ host, port });
    onEnd(() => socket.destroy());
    socket.once('connect', () => finish(true));
    socket.on('error', (err) => finish(false, err.message));
  });
}

async function commandProbe(probe: Extract<HealthProbe, { type: 'COMMAND' }>, context: ProbeContext): Promise<ProbeResult> {
  const own = probe.shell ? ['/bin/sh', '-c', probe.value] : [probe.value, ...probe.arguments.slice(1)];
  let argv: string[];
  try {
    argv = context.commandArgv === undefined ? own : await context.commandArgv(own);
  } catch (err) {
    return { ok: false, message: `cannot run the check in the task: ${(err as Error).message}`, durationMs: 0 };
  }
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    const { finish, onEnd } = attempt(resolve, context.timeoutMs, `command did not finish within ${context.timeoutMs} ms`);
    // Its own process group, so a timeout kills whatever the check started, not just the shell.
    const child = spawn(file, args, { cwd: context.sandbox, env: { ...context.env, ...probe.environment }, stdio: 'ignore', detached: true });
    let exited = false;
    onEnd(() => {
      if (!exited && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    });
    child.on('error', (err) => finish(false, err.message));
    child.once('exit', (code, signal) => {
      exited = true;
      if (code === 0) finish(true);
      else finish(false, signal !== null ? `command killed by ${signal}` : `command exited with status ${code}`);
    });
  });
}
