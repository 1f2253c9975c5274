/**
 * `drover run [--cpus C] [--mem M] SCRIPT [ARGS…]` — DCSH's idea: run a local script on the cluster
 * as if it were local. The CLI subscribes as a short-lived framework, launches the script (shipped
 * inside the command, base64) as one task, streams the sandbox's stdout and stderr to the local
 * streams while it runs, forwards our stdin to it, and exits with the script's exit code. Ctrl-C
 * kills the task.
 *
 * stdin: the script reads a FIFO in its sandbox (`.drover-stdin`); once the task runs, the CLI
 * opens an exec session on the agent (`POST /tasks/exec`, as `task exec -i`) whose `cat` copies our
 * stdin into that FIFO. When our stdin ends, the FIFO closes and the script sees end-of-file.
 * Works as a shebang: `#!/usr/bin/env -S drover run --mem 256`.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Argv } from 'yargs';
import { HttpSchedulerTransport } from '../frameworks/sdk/http-transport.ts';
import type { OfferJson, SchedulerConnection } from '../frameworks/sdk/scheduler.ts';
import { Resources } from '../resources/index.ts';
import { CliError } from './client.ts';
import { withClient, type ClientArgs } from './run-command.ts';
import { execOnAgent } from './task-exec.ts';
import { caAwareFetch, cliFetch, tokenFor } from './credentials.ts';

/** The script travels base64-encoded inside one `sh -c` argument, which Linux caps at 128 KiB. */
const MAX_SCRIPT_BYTES = 64 * 1024;
/** In the sandbox: the script's stdin, fed by an exec session that copies ours. */
const STDIN_FIFO = '.drover-stdin';
const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_LOST', 'TASK_GONE']);

interface RunArgs {
  script: string;
  args: string[];
  cpus: number;
  mem: number;
}

export function addRunCommand(y: Argv<ClientArgs>): Argv<ClientArgs> {
  // Only for `--help`: main() hands `drover run …` to runCommand before yargs sees it.
  return y.command('run [options] <script> [args..]', 'Run a local script on the cluster, streaming its output; exits with its exit code (--cpus C, --mem MB)');
}

const USAGE = 'usage: drover run [--cpus C] [--mem MB] [--master URL] SCRIPT [ARGS…]';

/**
 * `drover run` parses its own argv: options come before the script; everything after the script
 * is the script's, verbatim (`--flag` included) — as a shebang line needs.
 */
export async function runCommand(argv: string[]): Promise<number> {
  const options: { cpus: number; mem: number; master?: string } = { cpus: 0.1, mem: 128 };
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith('--')) break;
    const [name, inline] = word.slice(2).split('=', 2) as [string, string | undefined];
    if (name === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) return usage(`--${name} needs a value`);
    if (name === 'cpus' || name === 'mem') {
      const n = Number(value);
      if (!(n > 0)) return usage(`--${name} must be a positive number`);
      options[name] = n;
    } else if (name === 'master') options.master = value;
    else return usage(`unknown option --${name}`);
  }
  const script = argv[i];
  if (script === undefined) return usage('name a script to run');
  let code = 1;
  await withClient(
    { ...(options.master ? { master: options.master } : {}) },
    (c) => (code = c),
    async (client) => {
      code = await run(client.master, { script, args: argv.slice(i + 1), cpus: options.cpus, mem: options.mem });
    },
  );
  return code;
}

function usage(why: string): number {
  process.stderr.write(`drover run: ${why}\n${USAGE}\n`);
  return 2;
}

async function run(master: string, args: RunArgs): Promise<number> {
  let script: Buffer;
  try {
    script = await readFile(args.script);
  } catch (e) {
    throw new CliError(`cannot read ${args.script}: ${e instanceof Error ? e.message : String(e)}`, 2);
  }
  // A `#!/usr/bin/env -S drover run …` line means "run this on the cluster": there, the script
  // is a shell script (honouring that line would call drover run again, on the agent).
  const firstLine = script.subarray(0, script.indexOf(10) === -1 ? script.length : script.indexOf(10)).toString('utf8');
  if (firstLine.startsWith('#!') && /\bdrover(\.js)?\b.*\brun\b/.test(firstLine)) {
    script = Buffer.concat([Buffer.from('#!/bin/sh'), script.subarray(firstLine.length)]);
  }
  if (script.length > MAX_SCRIPT_BYTES) throw new CliError(`${args.script} is larger than ${MAX_SCRIPT_BYTES} bytes`, 2);
  const name = basename(args.script).replace(/[^A-Za-z0-9._-]/g, '_') || 'script';
  const quoted = args.args.map((x) => `'${String(x).replaceAll("'", "'\\''")}'`).join(' ');
  // The script is written into the sandbox and executed there (its shebang line decides the
  // interpreter, as it would locally); without one it runs under /bin/sh.
  // Its stdin is the FIFO the CLI feeds (opening it waits for that writer).
  const command = `printf '%s' '${script.toString('base64')}' | base64 -d > ./${name} && chmod +x ./${name} && mkfifo ${STDIN_FIFO} && if head -c2 ./${name} | grep -q '^#!'; then exec ./${name} ${quoted} < ${STDIN_FIFO}; else exec /bin/sh ./${name} ${quoted} < ${STDIN_FIFO}; fi`;

  const connection = await new HttpSchedulerTransport(master, tokenFor(master), caAwareFetch).subscribe({ user: process.env['USER'] || 'root', name: `drover-run:${name}`, failover_timeout: 0 });
  const taskId = `run-${name}-${Date.now().toString(36)}`;
  let agentUrl: string | undefined;
  let sandbox: string | undefined;
  const offsets: Offsets = { stdout: 0, stderr: 0 };
  let killed = false;
  let finished = false;
  const stdinSession = new AbortController();
  let feeding = false;
  const onInterrupt = (): void => {
    killed = true;
    void connection.call({ type: 'KILL', kill: { task_id: { value: taskId } } }).catch(() => undefined);
  };
  process.on('SIGINT', onInterrupt);
  try {
    let launched = false;
    for await (const event of connection.events()) {
      if (event.type === 'OFFERS') {
        for (const offer of event.offers.offers) {
          if (!launched && fits(offer, args)) {
            launched = true;
            await launch(connection, offer, taskId, command, args);
          } else {
            await connection.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 1 } } });
          }
        }
        continue;
      }
      if (event.type !== 'UPDATE' || event.update.status.task_id.value !== taskId) continue;
      const status = event.update.status;
      if (status.uuid && status.agent_id) await connection.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid } });
      if (!agentUrl && status.agent_id) ({ agentUrl, sandbox } = await locate(master, status.agent_id.value, taskId));
      if (status.state === 'TASK_RUNNING' && agentUrl && sandbox) {
        void pump(agentUrl, sandbox, offsets, () => finished);
        if (!feeding) {
          feeding = true;
          void feedStdin(agentUrl, taskId, connection.frameworkId, stdinSession.signal, () => finished || killed, onInterrupt);
        }
      }
      if (TERMINAL.has(status.state)) {
        finished = true;
        if (agentUrl && sandbox) await drain(agentUrl, sandbox, offsets);
        if (status.state === 'TASK_FINISHED') return 0;
        const code = /exited with status (\d+)/.exec(status.message ?? '')?.[1];
        if (code !== undefined) return Number(code);
        if (killed || status.state === 'TASK_KILLED') return 130;
        process.stderr.write(`drover run: ${status.state}: ${status.message ?? ''}\n`);
        return 1;
      }
    }
    throw new CliError('the subscription ended before the script did');
  } finally {
    stdinSession.abort();
    process.off('SIGINT', onInterrupt);
    await connection.call({ type: 'TEARDOWN' }).catch(() => undefined);
    await connection.close();
  }
}

/**
 * Copies our stdin into the script's FIFO through an exec session. If that fails while the task
 * still runs, the script could wait for its stdin forever: the task is killed, with the reason.
 */
async function feedStdin(agentUrl: string, taskId: string, frameworkId: string, signal: AbortSignal, over: () => boolean, kill: () => void): Promise<void> {
  try {
    // RUNNING is reported as the task's shell starts, maybe before it made the FIFO: wait for it
    // (writing to a path that is not there yet would create a plain file instead).
    const feed = `while [ ! -p ${STDIN_FIFO} ]; do sleep 0.05; done; exec cat > ${STDIN_FIFO}`;
    await execOnAgent(agentUrl, { taskId, frameworkId }, { argv: ['/bin/sh', '-c', feed], interactive: true, tty: false, signal });
  } catch (e) {
    if (signal.aborted || over()) return;
    process.stderr.write(`drover run: cannot forward stdin to the script: ${e instanceof Error ? e.message : String(e)}\n`);
    kill();
  }
}

function fits(offer: OfferJson, args: RunArgs): boolean {
  const offered = Resources.fromJSON(offer.resources).flatten();
  return offered.cpus() >= args.cpus && offered.mem() >= args.mem;
}

async function launch(connection: SchedulerConnection, offer: OfferJson, taskId: string, command: string, args: RunArgs): Promise<void> {
  await connection.call({
    type: 'ACCEPT',
    accept: {
      offer_ids: [offer.id],
      operations: [
        {
          type: 'LAUNCH',
          launch: {
            task_infos: [
              {
                name: taskId,
                task_id: { value: taskId },
                agent_id: offer.agent_id,
                resources: Resources.parse(`cpus:${args.cpus};mem:${args.mem}`).toJSON(),
                command: { value: command, shell: true },
              },
            ],
          },
        },
      ],
      filters: { refuse_seconds: 60 },
    },
  });
}

async function locate(master: string, agentId: string, taskId: string): Promise<{ agentUrl?: string; sandbox?: string }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const state = (await (await cliFetch(`${master}/master/state?agent_id=${encodeURIComponent(agentId)}&task_id=${encodeURIComponent(taskId)}`)).json()) as {
      slaves: Array<{ hostname: string; port: number }>;
      frameworks: Array<{ tasks: Array<{ directory?: string }>; completed_tasks: Array<{ directory?: string }> }>;
    };
    const agent = state.slaves[0];
    const directory = state.frameworks.flatMap((f) => [...f.tasks, ...f.completed_tasks]).find((t) => t.directory)?.directory;
    // The master's relays to the agent (files, exec): over mutual TLS to its verified address.
    if (agent && directory) return { agentUrl: `${master.replace(/\/+$/, '')}/agent/${encodeURIComponent(agentId)}`, sandbox: directory };
    await new Promise((r) => setTimeout(r, 100));
  }
  return {};
}

/** Copy new bytes of stdout/stderr to the local streams until the task ends. */
async function pump(agentUrl: string, sandbox: string, offsets: Offsets, ended: () => boolean): Promise<void> {
  while (!ended()) {
    await drain(agentUrl, sandbox, offsets);
    await new Promise((r) => setTimeout(r, 200));
  }
}

type Offsets = Record<'stdout' | 'stderr', number> & { busy?: Promise<void> };

/** One reader at a time: the poller and the final drain must not print the same bytes twice. */
function drain(agentUrl: string, sandbox: string, offsets: Offsets): Promise<void> {
  const next = (offsets.busy ?? Promise.resolve()).then(() => drainOnce(agentUrl, sandbox, offsets));
  offsets.busy = next.catch(() => undefined);
  return next;
}

async function drainOnce(agentUrl: string, sandbox: string, offsets: Offsets): Promise<void> {
  for (const stream of ['stdout', 'stderr'] as const) {
    const q = new URLSearchParams({ path: `${sandbox}/${stream}`, offset: String(offsets[stream]), length: '-1' });
    const response = await cliFetch(`${agentUrl}/files/read?${q.toString()}`).catch(() => undefined);
    if (!response?.ok) continue;
    const { data } = (await response.json()) as { data: string };
    if (data.length === 0) continue;
    offsets[stream] += Buffer.byteLength(data, 'utf8');
    (stream === 'stdout' ? process.stdout : process.stderr).write(data);
  }
}
