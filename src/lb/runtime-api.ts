/**
 * HAProxy's runtime API over its admin socket (`stats socket … level admin`): one connection per
 * batch, commands joined with `;` on one line (HAProxy runs them in order and closes the
 * connection after the last answer).
 */
import { createConnection } from 'node:net';

/** HAProxy reads one command line into one buffer (tune.bufsize, 16 KiB): batches stay well under. */
const MAX_LINE = 8000;
const TIMEOUT_MS = 10_000;

/** Answers that mean a command did not do what it asked. */
const FAILURE = /^(No such|Unknown command|Require|Invalid|Permission denied|Can't|Cannot|Missing|Failed)/m;

export class RuntimeApiError extends Error {}

/** Send one line; resolves with everything HAProxy answered. */
export function runtimeCommand(socketPath: string, line: string): Promise<string> {
  if (line.includes('\n')) return Promise.reject(new RuntimeApiError('a runtime command is one line'));
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let answer = '';
    const timer = setTimeout(() => socket.destroy(new RuntimeApiError(`no answer from ${socketPath} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.end(`${line}\n`));
    socket.on('data', (d: string) => {
      answer += d;
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

/** Run commands in order, batched; throws RuntimeApiError on the first answer that reports a failure. */
export async function runCommands(socketPath: string, commands: readonly string[]): Promise<void> {
  let batch: string[] = [];
  let length = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const answer = await runtimeCommand(socketPath, batch.join(';'));
    const failed = FAILURE.exec(answer);
    if (failed) throw new RuntimeApiError(`HAProxy refused a runtime command: ${answer.trim().slice(0, 500)}`);
    batch = [];
    length = 0;
  };
  for (const c of commands) {
    if (length + c.length + 1 > MAX_LINE) await flush();
    batch.push(c);
    length += c.length + 1;
  }
  await flush();
}

/** `show info` as a map (Pid is the worker's: it changes on every reload). */
export async function showInfo(socketPath: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await runtimeCommand(socketPath, 'show info')).split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) out.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return out;
}
