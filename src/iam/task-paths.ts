/**
 * The app path a task belongs to, for the agent's permission checks on a task's sandbox and exec
 * (`dcos:mesos:agent:sandbox:app_id:<path>`). Marathon-style task ids carry it: `dev_web.instance-
 * <uuid>._app.<n>` is `/dev/web` (services/app.ts builds them; app ids have no `_`). A task of any
 * other shape belongs to no app: only a grant on every app (`/`) covers it.
 */
export function appPathOfTask(taskId: string): string {
  const match = /^([a-z0-9][a-z0-9_.-]{0,200})\.instance-[0-9a-f-]+\._app\.\d+$/.exec(taskId);
  return match?.[1] ? `/${match[1].split('_').join('/')}` : '/';
}

/** The task id a sandbox path names (`…/executors/<task id>/runs/…`), if any. */
export function taskOfSandboxPath(path: string): string | undefined {
  if (path.length > 4096) return undefined;
  const segments = path.split('/');
  const at = segments.indexOf('executors');
  const id = at >= 0 ? segments[at + 1] : undefined;
  return id === undefined || id === '' ? undefined : id;
}
