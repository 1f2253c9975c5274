/**
 * Who may use this agent's exec and files APIs: the caller's token must allow the action on the
 * task's app (`dcos:mesos:agent:nested_container_session:app_id:<app>` create for exec,
 * `dcos:mesos:agent:sandbox:app_id:<app>` read for files; src/iam/route-permissions.ts). The agent
 * holds no directory of users and grants: it asks the master that accepted its registration
 * (`POST /acs/api/v1/authorize` with the caller's credential), and remembers each answer briefly,
 * so a UI following a log does not cost a round trip per read.
 *
 * When the master cannot be asked (partitioned, failing over), an answer it gave in the last
 * STALE_MS still holds, as Kubernetes' webhook authorizer keeps its cached answers: an operator
 * keeps seeing what the agent runs while the agent is cut off — which is when it matters. The price:
 * a grant revoked during a partition still works here until the partition ends or STALE_MS passes.
 *
 * An agent without any credential of its own belongs to a cluster with auth off: it checks nothing.
 */
import { DroverError } from '../../errors/errors.ts';
import type { Action } from '../../iam/permissions.ts';

const REMEMBER_MS = 10_000;
const STALE_MS = 5 * 60_000;
const ASK_TIMEOUT_MS = 5_000;
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
      const asked = await ask(fetchImpl(), masterBase(), authorization, rid, action);
      if (asked === 'unauthorized') throw new DroverError('UNAUTHORIZED', 'The token is invalid or has expired');
      if (typeof asked === 'boolean') {
        allowed = asked;
        if (answers.size >= MAX_REMEMBERED) answers.clear();
        answers.set(key, { allowed, at: now() });
      } else if (known !== undefined && now() - known.at < STALE_MS) allowed = known.allowed;
      else throw asked;
    }
    if (!allowed) throw new DroverError('FORBIDDEN', `Not allowed: ${action} ${rid}`);
  };
}

/** The master's answer: allowed or not, the credential refused, or why it could not be had. */
async function ask(fetchFn: typeof fetch, base: string, authorization: string, rid: string, action: Action): Promise<boolean | 'unauthorized' | DroverError> {
  let response: Response;
  try {
    response = await fetchFn(`${base}/acs/api/v1/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ rid, action }),
      signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
    });
  } catch (cause) {
    return new DroverError('STORE_UNAVAILABLE', 'The master could not be asked whether this call is allowed; retry', { cause });
  }
  if (response.status === 401) return 'unauthorized';
  if (response.status !== 200) {
    await response.body?.cancel();
    return new DroverError('STORE_UNAVAILABLE', `The master answered ${response.status} to an authorization question; retry`);
  }
  try {
    return ((await response.json()) as { allowed?: unknown }).allowed === true;
  } catch (cause) {
    return new DroverError('STORE_UNAVAILABLE', 'The master answered an authorization question with no JSON; retry', { cause });
  }
}
