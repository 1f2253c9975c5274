/**
 * `drover task exec [-i] [-t] TASK -- CMD…`: runs a command inside a running task's container —
 * its namespaces, cgroups and user — through the master's relay to the agent's `POST /tasks/exec`
 * (src/agent/exec/exec-session.ts). stdout and stderr arrive as RecordIO records and go to the
 * matching local streams; the command's exit code becomes ours (a signal → 128 + its number).
 * With -i our stdin is streamed to the command; with -t it gets a pseudo-terminal, and a local
 * terminal is switched to raw mode so keys reach it as typed.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { decodeJsonRecords } from '../protocol/recordio.ts';
import { CliError, type Client } from './client.ts';
import { findSources } from './task-log.ts';
import { authHeaders, trustedCaPem } from './credentials.ts';

export interface ExecOptions {
  target: string;
  argv: string[];
  interactive: boolean;
  tty: boolean;
}

interface ExitRecord {
  type: 'EXIT';
  exit_code?: number;
  signal?: string;
  message?: string;
}
type ExecRecord = { type: 'STDOUT' | 'STDERR'; data: string } | ExitRecord;

/** Runs the command in the one running task the target names; resolves with the exit code to leave with. */
export async function taskExec(client: Client, options: ExecOptions): Promise<number> {
  if (options.argv.length === 0) throw new CliError('name a command after --, e.g. drover task exec web -- ls', 2);
  const sources = (await findSources(client, options.target, '')).filter((s) => s.task.state === 'TASK_RUNNING');
  if (sources.length === 0) throw new CliError(`no running task matches '${options.target}'`);
  if (sources.length > 1) throw new CliError(`'${options.target}' matches ${sources.length} running tasks; name one: ${sources.map((s) => s.task.id).join(', ')}`);
  const { task, agentUrl } = sources[0]!;
  return execOnAgent(agentUrl, { taskId: task.id, ...(task.framework_id ? { frameworkId: task.framework_id } : {}) }, options);
}

/**
 * One exec session on a known agent, through the master's relay (`agentUrl` is
 * `<master>/agent/<id>`; src/master/api/agent-exec.ts). `signal` ends it early: the connection is dropped, and the
 * agent kills what the session started.
 */
export async function execOnAgent(agentUrl: string, task: { taskId: string; frameworkId?: string }, options: Omit<ExecOptions, 'target'> & { signal?: AbortSignal }): Promise<number> {
  const query = new URLSearchParams({ task_id: task.taskId, argv: JSON.stringify(options.argv), tty: String(options.tty) });
  if (task.frameworkId) query.set('framework_id', task.frameworkId);
  const raw = options.tty && options.interactive && process.stdin.isTTY === true;
  const url = `${agentUrl}/tasks/exec?${query.toString()}`;
  const ca = trustedCaPem();
  const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, {
    method: 'POST',
    ...(url.startsWith('https:') && ca !== undefined ? { ca } : {}),
    headers: { 'content-type': 'application/octet-stream', ...authHeaders(agentUrl) },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request.on('response', resolve);
    request.on('error', (e) => reject(options.signal?.aborted ? e : new CliError(`cannot reach agent ${agentUrl} for task ${task.taskId}: ${e.message}`)));
    request.flushHeaders();
    if (options.interactive) process.stdin.pipe(request);
    else request.end();
  });
  if (response.statusCode !== 200) {
    let body = '';
    for await (const chunk of response) body += String(chunk);
    throw new CliError(`agent ${agentUrl}: ${describe(body)} (HTTP ${String(response.statusCode)})`);
  }
  if (raw) process.stdin.setRawMode(true);
  try {
    for await (const record of decodeJsonRecords<ExecRecord>(response as Readable)) {
      if (record.type === 'EXIT') return exitCode(record);
      (record.type === 'STDOUT' ? process.stdout : process.stderr).write(Buffer.from(record.data, 'base64'));
    }
  } finally {
    if (raw) process.stdin.setRawMode(false);
    process.stdin.unpipe(request);
    process.stdin.pause();
  }
  throw new CliError(`the agent ended the session of task ${task.taskId} without an exit status`);
}

function exitCode(record: ExitRecord): number {
  if (record.message) process.stderr.write(`drover: ${record.message}\n`);
  if (record.exit_code !== undefined) return record.exit_code;
  const number = record.signal === undefined ? undefined : (constants.signals as Record<string, number>)[record.signal];
  return number === undefined ? 1 : 128 + number;
}

function describe(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body.slice(0, 500);
  } catch {
    return body.slice(0, 500);
  }
}
