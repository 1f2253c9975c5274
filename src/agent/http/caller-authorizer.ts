/**
 * Who may use this agent's exec and files APIs: the caller's token must allow the action on the
 * task's app (`dcos:mesos:agent:nested_container_session:app_id:<app>` create for exec,
 * `dcos:mesos:agent:sandbox:app_id:<app>` read for files; src/iam/route-permissions.ts). The agent
 * holds no directory of users and grants: it asks the master that accepted its registration
 * (`POST /acs/api/v1/authorize` with the caller's credential), and remembers each answer briefly,
 * so a UI following a log does not cost a round trip per read.
 *
 * An agent without any credential of its own belongs to a cluster with auth off: it checks nothing.
 */
import { DroverError } from '../../errors/errors.ts';
import type { Action } from '../../iam/permissions.ts';

const REMEMBER_MS = 10_000;
const MAX_REMEMBERED = 1000;

export type CallerAuthorizer = (authorization: string | undefined, rid: string, action: Action) => Promise<void>;

export function masterCallerAuthorizer(masterBase: () => string, enabled: () => boolean, now: () => number = Date.now, fetchImpl: () => typeof fetch = () => fetch): CallerAuthorizer {
  const answers = new Map<string, { allowed: boolean; at: number }>();
  return async (authorization, rid, action) => {
    if (!enabled()) return;
    if (authorization === undefined || authorization.length > 8192) {
      throw new DroverError('UNAUTHORIZED', 'Authentication required: send Authorization: token=<token>');
    }
    const key = `${authorization}\n${action}\n${rid}`;
    const known = answers.get(key);
    let allowed: boolean;
    if (known !== undefined && now() - known.at < REMEMBER_MS) allowed = known.allowed;
    else {
      let response: Response;
      try {
        response = await fetchImpl()(`${masterBase()}/acs/api/v1/authorize`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ rid, action }),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (cause) {
        throw new DroverError('STORE_UNAVAILABLE', 'The master could not be asked whether this call is allowed; retry', { cause });
      }
      if (response.status === 401) throw new DroverError('UNAUTHORIZED', 'The token is invalid or has expired');
      if (response.status !== 200) throw new DroverError('STORE_UNAVAILABLE', `The master answered ${response.status} to an authorization question; retry`);
      allowed = ((await response.json()) as { allowed?: unknown }).allowed === true;
      if (answers.size >= MAX_REMEMBERED) answers.clear();
      answers.set(key, { allowed, at: now() });
    }
    if (!allowed) throw new DroverError('FORBIDDEN', `Not allowed: ${action} ${rid}`);
  };
}
