/**
 * `drover task log [--follow] [--lines N] [--stderr] TARGET [FILE]`: finds the tasks (a task id, or
 * an app's tasks; finished ones from the history when none runs) and reads straight from the agent
 * holding each sandbox. Following polls the agent's `/files/read` with offsets, as the Mesos CLI
 * does — it prints what arrives, so a quiet task shows its last lines at once, never nothing.
 */
import type { Argv } from 'yargs';
import { CliError, type Client } from './client.ts';
import { withClient, type ClientArgs } from './run-command.ts';
import { cliFetch } from './credentials.ts';
import { when } from './table.ts';

export interface TaskJson {
  id: string;
  name: string;
  state: string;
  slave_id: string;
  framework_id?: string;
  directory?: string;
}
export interface Source {
  task: TaskJson;
  agentUrl: string;
  path: string;
  offset: number;
}

const POLL_MS = 300;
/** While following, the tasks' states are asked for every this many polls (about once a second). */
const STATE_EVERY = 3;

export const isTerminal = (state: string): boolean => /FINISHED|FAILED|KILLED|ERROR|DROPPED|GONE|LOST/.test(state);

/** Whether every source's task has ended (its state refreshed from the master). */
async function allEnded(client: Client, sources: Source[]): Promise<boolean> {
  for (const s of sources) {
    if (isTerminal(s.task.state)) continue;
    const q = new URLSearchParams({ filter: s.task.id, completed: 'true', limit: '10' });
    const { tasks } = await client.get<{ tasks: TaskJson[] }>(`/master/tasks?${q.toString()}`);
    const now = tasks.find((t) => t.id === s.task.id);
    if (now === undefined || !isTerminal(now.state)) return false;
    s.task = { ...s.task, state: now.state };
  }
  return true;
}

export function addTaskLog(y: Argv<ClientArgs>, setExit: (code: number) => void): Argv<ClientArgs> {
  return y
    .command(
      'ls <target> [path]',
      "List a task's sandbox (or a folder in it)",
      (b) => b.positional('target', { type: 'string', demandOption: true }).positional('path', { type: 'string', default: '' }),
      (a) =>
        withClient(a, setExit, async (client) => {
          const [s] = await findSources(client, a.target, a.path);
          const response = await cliFetch(`${s!.agentUrl}/files/browse?${new URLSearchParams({ path: s!.path.replace(/\/$/, '') }).toString()}`);
          if (!response.ok) throw new CliError(`agent ${s!.agentUrl}: ${(await response.text()).slice(0, 500)} (HTTP ${response.status})`);
          const entries = (await response.json()) as Array<{ path: string; size: number; mode: string; mtime: number }>;
          if (a.json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
          else for (const e of entries) process.stdout.write(`${e.mode}  ${String(e.size).padStart(10)}  ${when(e.mtime)}  ${e.path.split('/').pop()}\n`);
        }),
    )
    .command(
      'download <target> <path>',
      'Write a sandbox file to stdout',
      (b) => b.positional('target', { type: 'string', demandOption: true }).positional('path', { type: 'string', demandOption: true }),
      (a) =>
        withClient(a, setExit, async (client) => {
          const [s] = await findSources(client, a.target, a.path);
          const response = await cliFetch(`${s!.agentUrl}/files/download?${new URLSearchParams({ path: s!.path }).toString()}`);
          if (!response.ok || !response.body) throw new CliError(`agent ${s!.agentUrl}: ${(await response.text()).slice(0, 500)} (HTTP ${response.status})`);
          for await (const chunk of response.body as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
        }),
    )
    .command(
      'log <target> [file]',
      "Print (and with --follow, stream) a task's stdout — or another sandbox file",
      (b) =>
        b
          .positional('target', { type: 'string', demandOption: true, describe: 'task id, app id (all its tasks) or job id (its latest run)' })
          .positional('file', { type: 'string', describe: 'file in the sandbox (default stdout)' })
          .option('follow', { alias: 'f', type: 'boolean', describe: 'keep printing what the task writes' })
          .option('lines', { alias: 'n', type: 'number', default: 10, describe: 'lines of history to print first' })
          .option('stderr', { type: 'boolean', describe: 'stderr instead of stdout' }),
      (a) =>
        withClient(a, setExit, async (client) => {
          const file = a.file ?? (a.stderr ? 'stderr' : 'stdout');
          const sources = await findSources(client, a.target, file);
          const prefix = sources.length > 1;
          for (const s of sources) await printTail(s, a.lines, prefix);
          if (!a.follow) return;
          const stop = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
          let stopped = false;
          void stop.then(() => (stopped = true));
          // Following ends when every followed task has ended (after what it wrote last is printed):
          // a finished job run, or an app's tasks all killed, leave nothing more to wait for.
          for (let round = 0; !stopped; round++) {
            const ended = round % STATE_EVERY === 0 && (await allEnded(client, sources));
            for (const s of sources) await pull(s, prefix);
            if (ended) {
              process.stderr.write(
                `drover: ${sources.length === 1 ? `task ${sources[0]!.task.id} has` : `all ${sources.length} tasks have`} ended (${[...new Set(sources.map((s) => s.task.state))].join(', ')})\n`,
              );
              return;
            }
            await Promise.race([stop, new Promise((r) => setTimeout(r, POLL_MS))]);
          }
        }),
    );
}

/** The tasks a target names (a task id, or an app's tasks) with the agent holding each sandbox. */
export async function findSources(client: Client, target: string, file: string): Promise<Source[]> {
  const appKey = target.replace(/^\/+/, '').replaceAll('/', '_');
  // The server-side filter is a substring of the task id: an app's key, a task id or a job id.
  const q = new URLSearchParams({ filter: appKey, completed: 'true', limit: '1000', order: 'desc' });
  const { tasks } = await client.get<{ tasks: TaskJson[] }>(`/master/tasks?${q.toString()}`);
  const exact = tasks.filter((t) => t.id === target);
  // A job's run tasks are `<jobId>_<runId>.<attempt>` (runId: 14 digits and 5 letters or digits).
  const ofJob = new RegExp(`^${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_\\d{14}[A-Za-z0-9]{5}\\.\\d+$`);
  const ofApp = tasks.filter((t) => t.id.startsWith(`${appKey}.`) || t.name === target || ofJob.test(t.id));
  // Else a unique prefix of a task id, as git takes a commit's (task ids are 50+ characters).
  // A prefix that names one running task names it, even if finished tasks share it.
  const allPrefixed = [...new Set(tasks.filter((t) => t.id.startsWith(target)).map((t) => t.id))];
  const livePrefixed = [...new Set(tasks.filter((t) => t.id.startsWith(target) && !isTerminal(t.state)).map((t) => t.id))];
  const prefixed = livePrefixed.length === 1 ? livePrefixed : allPrefixed;
  if (exact.length === 0 && ofApp.length === 0 && prefixed.length > 1) {
    throw new CliError(
      `'${target}' is the start of ${prefixed.length} task ids; type more of one:\n${prefixed
        .slice(0, 10)
        .map((id) => `  ${id}`)
        .join('\n')}`,
      2,
    );
  }
  const matched = exact.length > 0 ? exact : ofApp.length > 0 ? ofApp : tasks.filter((t) => t.id === prefixed[0]);
  if (matched.length === 0) throw new CliError(`no task matches '${target}' (a task id or the start of one, an app id, or a job id)`);
  const live = matched.filter((t) => !isTerminal(t.state));
  // Every running task of the app; or, when none runs, the most recent finished one.
  const chosen = live.length > 0 ? live : matched.slice(0, 1);
  const sources: Source[] = [];
  for (const task of chosen) {
    if (!task.directory) throw new CliError(`task ${task.id} has no known sandbox yet`);
    const state = await client.get<{ slaves: Array<{ id: string; hostname: string; port: number }> }>(`/master/state?agent_id=${encodeURIComponent(task.slave_id)}&limit=0`);
    const agent = state.slaves[0];
    if (!agent) throw new CliError(`agent ${task.slave_id} of task ${task.id} is not known to the master`);
    // Through the master's relay (src/master/api/agent-files.ts): the master reaches the agent at
    // its verified address over mutual TLS; the CLI's token goes only to the master.
    sources.push({ task, agentUrl: `${client.master.replace(/\/+$/, '')}/agent/${encodeURIComponent(agent.id)}`, path: file ? `${task.directory}/${file}` : task.directory, offset: 0 });
  }
  return sources;
}

async function read(s: Source, offset: number, length: number): Promise<{ offset: number; data: string }> {
  const q = new URLSearchParams({ path: s.path, offset: String(offset), length: String(length) });
  let response: Response;
  try {
    response = await cliFetch(`${s.agentUrl}/files/read?${q.toString()}`);
  } catch (e) {
    throw new CliError(`cannot reach agent ${s.agentUrl} for task ${s.task.id}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!response.ok) throw new CliError(`agent ${s.agentUrl}: ${(await response.text()).slice(0, 500)} (HTTP ${response.status})`);
  return (await response.json()) as { offset: number; data: string };
}

function emit(s: Source, text: string, prefix: boolean): void {
  if (text === '') return;
  if (!prefix) {
    process.stdout.write(text);
    return;
  }
  const lines = text.split('\n');
  const last = lines.pop();
  process.stdout.write(lines.map((l) => `[${s.task.id}] ${l}\n`).join('') + (last ? `[${s.task.id}] ${last}` : ''));
}

async function printTail(s: Source, lines: number, prefix: boolean): Promise<void> {
  const { offset: size } = await read(s, -1, 0);
  const window = 64 * 1024;
  const start = Math.max(0, size - window);
  const { data } = await read(s, start, size - start);
  const all = data.split('\n');
  const complete = data.endsWith('\n') ? all.slice(0, -1) : all;
  emit(
    s,
    complete
      .slice(-lines)
      .map((l) => `${l}\n`)
      .join(''),
    prefix,
  );
  s.offset = size;
}

async function pull(s: Source, prefix: boolean): Promise<void> {
  const { offset: size } = await read(s, -1, 0);
  if (size < s.offset) s.offset = 0; // truncated or rotated: start over
  if (size === s.offset) return;
  const { data } = await read(s, s.offset, size - s.offset);
  s.offset += Buffer.byteLength(data, 'utf8');
  emit(s, data, prefix);
}
