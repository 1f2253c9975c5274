/**
 * How a task's exit status survives the agent: the task runs under a tiny /bin/sh wrapper that is
 * the leader of the task's process group. The wrapper runs the command in the foreground, waits
 * for it, writes the status to `<sandbox>/.drover-exit` (temp file + rename, so it is complete or
 * absent) and exits with the same code. Whoever watches — the agent that spawned it, or a
 * restarted agent polling the pid — reads the file.
 *
 * Why these details:
 * - The wrapper traps TERM/INT/HUP/QUIT with a no-op: a group-wide SIGTERM from `kill` then ends
 *   the command, while the wrapper survives long enough to record how it ended. A trapped signal
 *   is reset to its default in children, so the command itself still receives it normally.
 * - A shell reports a child killed by signal N as status 128+N and cannot tell it apart from an
 *   `exit 128+N`. We read 129..192 as a signal (what a shell user sees in `$?`), so a command
 *   that itself calls `exit 139` is reported as SIGSEGV. That is the price of not running a
 *   heavyweight executor (Node, ~40 MB) per task.
 * - If the wrapper itself is SIGKILLed (the end of a kill's grace period), there is no file; the
 *   spawning agent still knows the signal from the wrapper's own exit.
 */
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { ExitStatus } from './containerizer.ts';

export const EXIT_FILE = '.drover-exit';

/** `sh -c WRAPPER drover-task <exit-file> <argv…>` */
export const WRAPPER_SCRIPT = [
  'exit_file=$1; shift',
  "trap ':' TERM INT HUP QUIT",
  '"$@"',
  'code=$?',
  'printf \'%s\\n\' "$code" > "$exit_file.tmp" && /bin/mv -f "$exit_file.tmp" "$exit_file"',
  'exit "$code"',
].join('\n');

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

export function signalName(signal: number): string {
  return SIGNAL_NAMES.get(signal) ?? `signal ${signal}`;
}

/** A shell status (0-255) as an ExitStatus: 129..192 read as death by signal (status - 128). */
export function exitStatusFromShellCode(code: number): ExitStatus {
  if (code > 128 && code <= 128 + 64) return { signal: signalName(code - 128) };
  return { exitCode: code };
}

/** The status the wrapper recorded, or undefined if it recorded none (or garbage). */
export async function readExitFile(sandbox: string): Promise<ExitStatus | undefined> {
  let text: string;
  try {
    text = await readFile(join(sandbox, EXIT_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const trimmed = text.trim();
  if (!/^\d{1,3}$/.test(trimmed)) return undefined;
  return exitStatusFromShellCode(Number(trimmed));
}

/** Mesos' wording: "Command exited with status 3" / "Command terminated with signal SIGSEGV". */
export function describeExit(status: ExitStatus): string {
  if (status.exitCode !== undefined) return `Command exited with status ${status.exitCode}`;
  if (status.signal !== undefined) return `Command terminated with signal ${status.signal}`;
  return 'Command exited while the agent was not watching; its exit status is unknown';
}
