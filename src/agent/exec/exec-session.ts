/**
 * `task exec` on the agent: one command run inside a live task's container, with its standard
 * streams carried over one HTTP exchange (`POST /tasks/exec`, agent-http.ts):
 *
 *   request body   the command's stdin, raw bytes, streamed (chunked) for as long as the client
 *                  has input; an empty body closes stdin at once
 *   response       `application/recordio` (as every Drover stream): JSON records
 *                    {"type":"STDOUT","data":"<base64>"}   {"type":"STDERR","data":"<base64>"}
 *                    {"type":"EXIT","exit_code":N}  or  {"type":"EXIT","signal":"SIGKILL"}   (last)
 *
 * With `tty`, the command runs under `script` (util-linux), which gives it a pseudo-terminal:
 * everything it prints then arrives as STDOUT, as on a terminal. The client going away kills the
 * command (its whole process group), so nothing is left running in the task.
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeJsonRecord } from '../../protocol/recordio.ts';

export interface ExecSpec {
  /** The command line from the containerizer (execArgv), already wrapping the user's command. */
  argv: readonly string[];
  env: Record<string, string>;
  cwd: string;
}

/** Wraps the user's command for a pseudo-terminal: `script -q -e -c 'CMD' /dev/null`. */
export function ttyArgv(argv: readonly string[]): string[] {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return ['script', '--quiet', '--return', '--command', quoted, '/dev/null'];
}

/** Runs the command and streams it back; resolves when the response has ended. */
export function runExecSession(spec: ExecSpec, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const [file, ...args] = spec.argv;
  response.writeHead(200, { 'content-type': 'application/recordio', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  response.flushHeaders();
  return new Promise((resolve) => {
    let ended = false;
    const finish = (record: Record<string, unknown>): void => {
      if (ended) return;
      ended = true;
      if (!response.destroyed) response.end(encodeJsonRecord(record));
      resolve();
    };
    // detached: a process group of its own, so a hang-up kills everything it started.
    const child = spawn(file!, args, { cwd: spec.cwd, env: spec.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const send = (type: 'STDOUT' | 'STDERR') => (chunk: Buffer) => {
      if (!ended && !response.destroyed) response.write(encodeJsonRecord({ type, data: chunk.toString('base64') }));
    };
    child.stdout.on('data', send('STDOUT'));
    child.stderr.on('data', send('STDERR'));
    // A command that does not read its stdin closes the pipe: that is not an error of the session.
    child.stdin.on('error', () => undefined);
    request.pipe(child.stdin);
    child.on('error', (err) => finish({ type: 'EXIT', exit_code: 127, message: err.message }));
    child.on('close', (code, signal) => finish(signal === null ? { type: 'EXIT', exit_code: code ?? 0 } : { type: 'EXIT', signal }));
    response.on('close', () => {
      if (ended || child.exitCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    });
  });
}
