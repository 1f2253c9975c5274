/**
 * Shell completion: yargs completes commands and flags; where an app, task or job id is expected,
 * the ids come from the master (with a short timeout, so a down master never hangs the shell).
 */
import { resolveMaster } from './client.ts';
import { cliFetch } from './credentials.ts';

type Done = (completions: string[]) => void;
type DefaultCompletion = (onCompleted?: (err: Error | null, completions: string[] | undefined) => void) => void;

const APP_ID_AFTER = new Set(['show', 'update', 'scale', 'restart', 'remove', 'kill']);
const JOB_ID_AFTER = new Set(['show', 'run', 'kill', 'history', 'remove']);

export function completeIds(current: string, argv: { _: Array<string | number>; master?: string }, defaultCompletion: DefaultCompletion, done: Done): void {
  // The bash script passes the whole line, program name included.
  const words = argv._.map(String);
  if (words[0] === 'drover') words.shift();
  // `drover app show <id>`: words are ['app', 'show', current] while typing the id.
  const group = words[0];
  const sub = words[1];
  const typingFirstArg = words.length === 3;
  const wantsApp = group === 'app' && sub !== undefined && APP_ID_AFTER.has(sub) && typingFirstArg;
  const wantsTask = group === 'task' && (sub === 'log' || sub === 'ls' || sub === 'download' || sub === 'exec') && typingFirstArg;
  // `drover job run <id>`, and `drover job schedule list <id>`.
  const wantsJob = group === 'job' && ((sub !== undefined && JOB_ID_AFTER.has(sub) && typingFirstArg) || (sub === 'schedule' && words.length === 4));
  if (!wantsApp && !wantsTask && !wantsJob) {
    defaultCompletion((_err, completions) => done(completions ?? []));
    return;
  }
  void (async () => {
    try {
      const master = await resolveMaster(argv.master);
      const signal = AbortSignal.timeout(1500);
      if (wantsJob) {
        const jobs = (await (await cliFetch(`${master}/v1/jobs`, { signal })).json()) as Array<{ id: string }>;
        done(jobs.map((j) => j.id).filter((id) => id.startsWith(current)));
      } else if (wantsApp) {
        const { apps } = (await (await cliFetch(`${master}/v2/apps`, { signal })).json()) as { apps: Array<{ id: string }> };
        done(apps.map((a) => a.id).filter((id) => id.startsWith(current) || id.slice(1).startsWith(current)));
      } else {
        const { tasks } = (await (await cliFetch(`${master}/master/tasks?completed=false&limit=1000`, { signal })).json()) as { tasks: Array<{ id: string }> };
        done(tasks.map((t) => t.id).filter((id) => id.startsWith(current)));
      }
    } catch {
      done([]);
    }
  })();
}
